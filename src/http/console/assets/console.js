// journeyd console: keeps the parts of a page marked `data-refresh="SECONDS"` current by
// fetching the page again and swapping in those parts, so the page is never reloaded (open
// details, scroll position and selections stay). Without JavaScript the pages still work;
// they just do not refresh.
"use strict";
(function () {
  const parts = Array.from(document.querySelectorAll("[data-refresh][id]"));
  if (parts.length === 0) {
    return;
  }
  const every = 1000 * Math.min(...parts.map((part) => Number(part.dataset.refresh) || 5));
  // Relative to the origin: a page opened as http://user:token@host/ must not send the
  // credentials in the URL (fetch refuses such URLs); the browser adds them itself.
  const url = new URL(location.pathname + location.search, location.origin);

  async function refresh() {
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const part of parts) {
          const replacement = fresh.getElementById(part.id);
          if (replacement) {
            part.replaceChildren(...replacement.childNodes);
          }
        }
        document.body.dataset.refreshedAt = new Date().toISOString();
        document.body.classList.remove("stale");
      } else {
        document.body.classList.add("stale");
      }
    } catch (error) {
      document.body.classList.add("stale");
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
