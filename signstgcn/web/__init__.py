"""The browser page of ``signstgcn serve`` (static files: ``index.html``, ``app.js``, ``style.css``)."""
