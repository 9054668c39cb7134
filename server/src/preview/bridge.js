// minicode's bridge inside the preview: reports the app's runtime errors
// (uncaught errors, unhandled rejections, console.error, Vite's error
// overlay) to the workspace that frames it, so they show in its console
// with a "Fix this error" button. Injected by minicode's preview proxy into
// the app's HTML, never written into the app's files. The workspace treats
// every message as untrusted text (the app can post anything itself).
(function () {
  'use strict';
  if (window.parent === window || window.__minicodeBridge) return;
  window.__minicodeBridge = true;

  var MAX_TEXT = 2000;
  var MAX_STACK = 4000;
  // At most this many reports per window of time; repeats are counted, not sent.
  var BURST = 20;
  var WINDOW_MS = 10000;
  var sent = [];
  var seen = Object.create(null);

  function clip(text, max) {
    text = String(text == null ? '' : text);
    return text.length > max ? text.slice(0, max) + '…' : text;
  }

  // `http://<host>/src/App.tsx?t=123:12:5` → `src/App.tsx:12:5`: the file as
  // the project names it (Vite serves the app's files at their paths).
  function sourceOf(stack, file, line, column) {
    var where = '';
    var lines = String(stack || '').split('\n');
    for (var i = 0; i < lines.length; i++) {
      var m = lines[i].match(/(https?:\/\/[^\s)]+?):(\d+):(\d+)/);
      if (m && m[1].indexOf(location.origin + '/') === 0 && m[1].indexOf('/node_modules/') < 0 && m[1].indexOf('/@') < 0) {
        where = m[1].slice(location.origin.length + 1).replace(/\?.*$/, '') + ':' + m[2] + ':' + m[3];
        break;
      }
    }
    if (!where && file && file.indexOf(location.origin + '/') === 0) {
      where = file.slice(location.origin.length + 1).replace(/\?.*$/, '') + (line ? ':' + line + (column ? ':' + column : '') : '');
    }
    return where;
  }

  function report(kind, message, stack, file, line, column) {
    var source = sourceOf(stack, file, line, column);
    var key = kind + '|' + message + '|' + source;
    var now = Date.now();
    seen[key] = (seen[key] || 0) + 1;
    sent = sent.filter(function (t) { return now - t < WINDOW_MS; });
    if (sent.length >= BURST) return;
    sent.push(now);
    try {
      window.parent.postMessage(JSON.stringify({
        type: 'minicode:runtime-error',
        kind: kind,
        message: clip(message, MAX_TEXT),
        stack: clip(stack, MAX_STACK),
        source: clip(source, 300),
        count: seen[key],
      }), '*');
    } catch (e) { /* the workspace is gone */ }
  }

  function describe(value) {
    if (value instanceof Error) return (value.name || 'Error') + ': ' + value.message;
    if (typeof value === 'string') return value;
    try { return JSON.stringify(value); } catch (e) { return String(value); }
  }

  window.addEventListener('error', function (event) {
    // A resource that failed to load (an <img>, a <script>) is not a script error.
    if (!event.message && event.target && event.target !== window) return;
    var error = event.error;
    report('error', error ? describe(error) : event.message, error && error.stack, event.filename, event.lineno, event.colno);
  });

  window.addEventListener('unhandledrejection', function (event) {
    var reason = event.reason;
    report('rejection', 'Unhandled rejection: ' + describe(reason), reason && reason.stack);
  });

  var consoleError = console.error;
  console.error = function () {
    var parts = [];
    var stack = '';
    for (var i = 0; i < arguments.length; i++) {
      parts.push(describe(arguments[i]));
      if (!stack && arguments[i] instanceof Error) stack = arguments[i].stack;
    }
    report('console', parts.join(' '), stack || new Error().stack);
    return consoleError.apply(this, arguments);
  };

  // Vite shows compile errors in its overlay element instead of throwing.
  function overlayText(node) {
    var root = node.shadowRoot;
    var message = root && root.querySelector('.message');
    var file = root && root.querySelector('.file');
    return {
      message: (message ? message.textContent : node.textContent) || 'Vite reported an error',
      file: file ? file.textContent : '',
    };
  }
  new MutationObserver(function (mutations) {
    for (var i = 0; i < mutations.length; i++) {
      var added = mutations[i].addedNodes;
      for (var j = 0; j < added.length; j++) {
        if (added[j].nodeName === 'VITE-ERROR-OVERLAY') {
          var text = overlayText(added[j]);
          report('vite', text.message.trim(), '', text.file ? location.origin + '/' + text.file.replace(/^\/+/, '') : '');
        }
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
