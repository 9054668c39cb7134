// minicode's bridge to Monaco. Loaded only by the project page, which calls
// it from Rust; Monaco itself (public/monaco/vs, copied by scripts/setup) is
// fetched from this server by its AMD loader on first use, never from a CDN.
(function () {
  'use strict';
  let editor = null;
  let monacoRef = null;
  let loading = null;
  // True while Rust sets the text: those edits are not the user's.
  let applying = false;
  let changeCallback = null;
  let saveCallback = null;

  function loadMonaco() {
    if (loading) return loading;
    loading = new Promise(function (resolve, reject) {
      if (window.monaco) return resolve(window.monaco);
      const script = document.createElement('script');
      script.src = '/monaco/vs/loader.js';
      script.onload = function () {
        // An absolute URL: Monaco's language workers start from a blob URL,
        // where a path like '/monaco/vs/…' cannot be resolved.
        window.require.config({ paths: { vs: new URL('/monaco/vs', window.location.href).href } });
        window.require(['vs/editor/editor.main'], function () { resolve(window.monaco); }, reject);
      };
      script.onerror = function () { reject(new Error('the editor could not be loaded')); };
      document.head.appendChild(script);
    });
    return loading;
  }

  function dark() {
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  }

  function quietly(action) {
    applying = true;
    try { action(); } finally { applying = false; }
  }

  window.minicodeEditor = {
    /** Creates the editor inside `element`; resolves when it is ready. */
    create: function (element) {
      return loadMonaco().then(function (monaco) {
        monacoRef = monaco;
        if (editor) editor.dispose();
        editor = monaco.editor.create(element, {
          value: '',
          language: 'plaintext',
          theme: dark() ? 'vs-dark' : 'vs',
          automaticLayout: true,
          minimap: { enabled: false },
          fontSize: 13,
          tabSize: 2,
          scrollBeyondLastLine: false,
          wordWrap: 'off',
        });
        editor.onDidChangeModelContent(function () {
          if (!applying && changeCallback) changeCallback();
        });
        editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, function () {
          if (saveCallback) saveCallback();
        });
      });
    },
    ready: function () { return editor !== null; },
    setValue: function (text) {
      if (!editor) return;
      if (editor.getValue() === text) return;
      quietly(function () { editor.getModel().setValue(text); });
    },
    /** Appends streamed text at the end and keeps the end in view. */
    appendValue: function (chunk) {
      if (!editor) return;
      const model = editor.getModel();
      const line = model.getLineCount();
      const column = model.getLineMaxColumn(line);
      quietly(function () {
        model.applyEdits([{ range: new monacoRef.Range(line, column, line, column), text: chunk }]);
      });
      editor.revealLine(model.getLineCount());
    },
    getValue: function () { return editor ? editor.getValue() : ''; },
    setLanguage: function (language) {
      if (editor) monacoRef.editor.setModelLanguage(editor.getModel(), language);
    },
    setReadOnly: function (readOnly) {
      if (editor) editor.updateOptions({ readOnly: readOnly });
    },
    onChange: function (callback) { changeCallback = callback; },
    onSave: function (callback) { saveCallback = callback; },
    dispose: function () {
      if (editor) editor.dispose();
      editor = null;
      changeCallback = null;
      saveCallback = null;
    },
  };
})();
