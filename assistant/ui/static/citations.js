() => {
  const MARK = /\[(\d{1,3})\]/g;
  const link = () => {
    document.querySelectorAll('#chat [data-testid="bot"] .message-content').forEach((body, turn) => {
      const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
      const found = [];
      while (walker.nextNode()) {
        const node = walker.currentNode;
        MARK.lastIndex = 0;
        if (MARK.test(node.nodeValue) && !node.parentElement.closest('a, code, pre')) found.push(node);
      }
      for (const node of found) {
        const text = node.nodeValue, parts = document.createDocumentFragment();
        let last = 0;
        text.replace(MARK, (whole, n, at) => {
          parts.append(text.slice(last, at));
          const a = document.createElement('a');
          a.className = 'cite'; a.href = `#source-${turn}-${n}`; a.dataset.turn = turn; a.dataset.n = n;
          a.title = 'Show source ' + n; a.textContent = whole;
          parts.append(a);
          last = at + whole.length;
          return whole;
        });
        parts.append(text.slice(last));
        node.replaceWith(parts);
      }
    });
  };
  let pending = false;
  new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; link(); }); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  document.addEventListener('click', (event) => {
    const a = event.target.closest && event.target.closest('a.cite');
    if (!a) return;
    event.preventDefault(); event.stopPropagation();
    const item = document.getElementById(`source-${a.dataset.turn}-${a.dataset.n}`);
    if (!item) return;
    for (let el = item; el; el = el.parentElement) if (el.tagName === 'DETAILS') el.open = true;
    document.querySelectorAll('#sources .flash').forEach((el) => el.classList.remove('flash'));
    item.classList.add('flash');
    item.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  }, true);
}
