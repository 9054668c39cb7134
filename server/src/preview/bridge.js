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

  // Vite serves each module with an inline source map: the place in the
  // served code is mapped back to the line and column the user wrote.
  var BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function decodeSegment(text) {
    var values = [];
    var value = 0;
    var shift = 0;
    for (var i = 0; i < text.length; i++) {
      var digit = BASE64.indexOf(text[i]);
      if (digit < 0) return null;
      value += (digit & 31) << shift;
      if (digit & 32) {
        shift += 5;
      } else {
        values.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = 0;
        shift = 0;
      }
    }
    return values;
  }
  function originalPlace(map, line, column) {
    var lines = String(map.mappings || '').split(';');
    var state = [0, 0, 0, 0];
    var best = null;
    for (var l = 0; l < lines.length && l < line; l++) {
      var generatedColumn = 0;
      var segments = lines[l] ? lines[l].split(',') : [];
      for (var k = 0; k < segments.length; k++) {
        var v = decodeSegment(segments[k]);
        if (!v || !v.length) continue;
        generatedColumn += v[0];
        if (v.length >= 4) {
          state[0] += v[1]; state[1] += v[2]; state[2] += v[3];
          if (l === line - 1 && generatedColumn <= column - 1) best = [state[1] + 1, state[2] + 1];
        }
      }
    }
    return best;
  }
  // One fetch per module for the page's life.
  var maps = Object.create(null);
  function sourceMap(file) {
    if (!maps[file]) {
      maps[file] = fetch(location.origin + '/' + file, { credentials: 'same-origin' })
        .then(function (res) { return res.text(); })
        .then(function (code) {
          var found = code.match(/\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+\/=]+)\s*$/);
          return found ? JSON.parse(atob(found[1])) : null;
        })
        .catch(function () { return null; });
    }
    return maps[file];
  }
  function mapSource(source, done) {
    var m = source.match(/^(.*):(\d+):(\d+)$/);
    if (!m || !window.fetch) return done(source);
    sourceMap(m[1]).then(function (map) {
      var place = map && originalPlace(map, Number(m[2]), Number(m[3]));
      done(place ? m[1] + ':' + place[0] + ':' + place[1] : source);
    }, function () { done(source); });
  }

  function report(kind, message, stack, file, line, column) {
    var now = Date.now();
    sent = sent.filter(function (t) { return now - t < WINDOW_MS; });
    if (sent.length >= BURST) return;
    sent.push(now);
    var where = sourceOf(stack, file, line, column);
    if (where) {
      mapSource(where, function (mapped) { send(kind, message, stack, mapped); });
    } else {
      send(kind, message, stack, '');
    }
  }

  function send(kind, message, stack, source) {
    var key = kind + '|' + message + '|' + source;
    seen[key] = (seen[key] || 0) + 1;
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

  // Select mode: the workspace asks (a message from the parent window
  // only); hovering outlines an element, a click picks it instead of
  // reaching the app. Where it was written comes from React's development
  // build: the element's creation stack (React 19) or `_debugSource`
  // (React 18), mapped back through the module's source map.
  var selecting = false;
  var outline = null;
  function setSelecting(on, tell) {
    if (tell && selecting && !on) {
      try { window.parent.postMessage(JSON.stringify({ type: 'minicode:select-ended' }), '*'); } catch (e) { /* gone */ }
    }
    selecting = on;
    document.documentElement.style.cursor = on ? 'crosshair' : '';
    if (!on && outline) { outline.remove(); outline = null; }
  }
  function highlight(el) {
    if (!outline) {
      outline = document.createElement('div');
      outline.setAttribute('data-minicode', 'outline');
      outline.style.cssText = 'position:fixed;pointer-events:none;z-index:2147483647;' +
        'outline:2px solid #6d5dfc;background:rgba(109,93,252,.12);border-radius:2px;transition:all 40ms';
      document.documentElement.appendChild(outline);
    }
    var r = el.getBoundingClientRect();
    outline.style.left = r.left + 'px';
    outline.style.top = r.top + 'px';
    outline.style.width = r.width + 'px';
    outline.style.height = r.height + 'px';
  }
  function fiberOf(el) {
    for (var key in el) {
      if (key.indexOf('__reactFiber$') === 0) return el[key];
    }
    return null;
  }
  function placeOf(el, done) {
    var fiber = fiberOf(el);
    if (fiber && fiber._debugSource && fiber._debugSource.fileName) {
      var d = fiber._debugSource;
      var at = d.fileName.lastIndexOf('/src/');
      return done(at >= 0 ? d.fileName.slice(at + 1) + ':' + d.lineNumber + ':' + (d.columnNumber || 1) : '');
    }
    var stack = fiber && fiber._debugStack && fiber._debugStack.stack;
    var where = stack ? sourceOf(stack) : '';
    if (!where) return done('');
    mapSource(where, done);
  }
  function pick(el) {
    setSelecting(false, true);
    var style = window.getComputedStyle(el);
    placeOf(el, function (source) {
      try {
        window.parent.postMessage(JSON.stringify({
          type: 'minicode:picked',
          tag: el.tagName.toLowerCase(),
          text: clip((el.textContent || '').replace(/\s+/g, ' ').trim(), 120),
          source: clip(source, 300),
          color: style.color,
          background: style.backgroundColor,
          fontSize: style.fontSize,
          padding: style.padding,
        }), '*');
      } catch (e) { /* the workspace is gone */ }
    });
  }
  window.addEventListener('message', function (event) {
    if (event.source !== window.parent || typeof event.data !== 'string') return;
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    if (message && message.type === 'minicode:select') setSelecting(!!message.on);
  });
  document.addEventListener('mousemove', function (event) {
    if (selecting && event.target instanceof Element) highlight(event.target);
  }, true);
  ['mousedown', 'mouseup', 'pointerdown', 'pointerup'].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (selecting) { event.preventDefault(); event.stopPropagation(); }
    }, true);
  });
  document.addEventListener('click', function (event) {
    if (!selecting || !(event.target instanceof Element)) return;
    event.preventDefault();
    event.stopPropagation();
    pick(event.target);
  }, true);
  document.addEventListener('keydown', function (event) {
    if (selecting && event.key === 'Escape') setSelecting(false, true);
  }, true);

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
