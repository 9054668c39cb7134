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
  // One model per file, named by its path (file:///src/App.tsx), so the
  // TypeScript checker sees each file under its name, resolves imports
  // between them, and knows .tsx from .ts. The editor shows one of them.
  const models = new Map();
  // Each file's cursor and scroll, restored when it is shown again.
  const viewStates = new Map();
  let shown = null;
  // Whether the dependencies' declarations are loaded (semantic checks on).
  let typesReady = false;

  // Files other files import: kept as models even when not shown.
  const SCRIPT = /\.(tsx?|jsx?|mts|cts|mjs|cjs)$/i;

  function languageOf(path) {
    if (/\.(tsx?|mts|cts)$/i.test(path)) return 'typescript';
    if (/\.(jsx?|mjs|cjs)$/i.test(path)) return 'javascript';
    return 'plaintext';
  }

  function uriOf(path) {
    return monacoRef.Uri.file('/' + path);
  }

  /** The model of `path`, made with `text` if there is none. */
  function modelOf(path, text, language) {
    let model = models.get(path);
    if (!model || model.isDisposed()) {
      model = monacoRef.editor.getModel(uriOf(path))
        || monacoRef.editor.createModel(text, language || languageOf(path), uriOf(path));
      models.set(path, model);
    }
    return model;
  }

  /**
   * The project's compiler settings, as the generated tsconfig.json has
   * them (bundler resolution, the automatic JSX runtime), so what the
   * editor reports is what `tsc` would. Semantic checks wait for the
   * dependencies' declarations: without them every import of `react` would
   * be an error that is not there.
   */
  function configureTypeScript(monaco) {
    const ts = monaco.languages.typescript;
    const options = {
      target: ts.ScriptTarget.ESNext,
      module: ts.ModuleKind.ESNext,
      // `bundler` (TypeScript 5's value 100; Monaco's enum predates it).
      moduleResolution: 100,
      jsx: ts.JsxEmit.ReactJSX,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      allowSyntheticDefaultImports: true,
      resolveJsonModule: true,
      isolatedModules: true,
      allowImportingTsExtensions: true,
      allowNonTsExtensions: true,
      allowJs: true,
      useDefineForClassFields: true,
    };
    for (const defaults of [ts.typescriptDefaults, ts.javascriptDefaults]) {
      defaults.setCompilerOptions(options);
      // Every file's model reaches the checker, not only the one shown.
      defaults.setEagerModelSync(true);
      defaults.setDiagnosticsOptions({ noSemanticValidation: true, noSyntaxValidation: false });
    }
  }

  // What the project's tsconfig.json may change in the checker's settings:
  // its strictness flags as they are, and the enumerated settings by name.
  const TSCONFIG_FLAGS = [
    'strict', 'noImplicitAny', 'strictNullChecks', 'noUnusedLocals', 'noUnusedParameters',
    'noFallthroughCasesInSwitch', 'noImplicitReturns', 'noUncheckedIndexedAccess',
    'exactOptionalPropertyTypes', 'noImplicitOverride', 'allowJs', 'checkJs',
    'esModuleInterop', 'allowSyntheticDefaultImports', 'verbatimModuleSyntax',
    'useDefineForClassFields', 'experimentalDecorators',
  ];
  const JSX = { preserve: 1, react: 2, 'react-native': 3, 'react-jsx': 4, 'react-jsxdev': 5 };
  const RESOLUTION = { classic: 1, node: 2, node10: 2, node16: 3, nodenext: 99, bundler: 100 };

  /**
   * Applies the project's tsconfig.json (JSON with comments and trailing
   * commas, as tsc reads it) over the defaults; text that does not parse
   * changes nothing.
   */
  function applyTsconfig(text) {
    let config;
    try {
      const plain = text
        .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, function (m, str) { return str || ''; })
        .replace(/,(\s*[}\]])/g, '$1');
      config = JSON.parse(plain).compilerOptions || {};
    } catch (e) {
      return;
    }
    const ts = monacoRef.languages.typescript;
    const options = Object.assign({}, ts.typescriptDefaults.getCompilerOptions());
    for (const flag of TSCONFIG_FLAGS) {
      if (typeof config[flag] === 'boolean') options[flag] = config[flag];
    }
    if (typeof config.jsx === 'string' && JSX[config.jsx.toLowerCase()]) options.jsx = JSX[config.jsx.toLowerCase()];
    if (typeof config.moduleResolution === 'string' && RESOLUTION[config.moduleResolution.toLowerCase()]) {
      options.moduleResolution = RESOLUTION[config.moduleResolution.toLowerCase()];
    }
    if (typeof config.jsxImportSource === 'string') options.jsxImportSource = config.jsxImportSource;
    ts.typescriptDefaults.setCompilerOptions(options);
    ts.javascriptDefaults.setCompilerOptions(options);
  }

  function semanticChecks(on) {
    const ts = monacoRef.languages.typescript;
    for (const defaults of [ts.typescriptDefaults, ts.javascriptDefaults]) {
      defaults.setDiagnosticsOptions({ noSemanticValidation: !on, noSyntaxValidation: false });
    }
  }

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

  // Monaco cancels the checker's pending requests when a model is switched
  // or disposed and when the declarations change (its worker restarts);
  // the cancellation is expected, but Monaco leaves the rejected promises
  // unhandled, so the page would report "Canceled" errors that are none.
  window.addEventListener('unhandledrejection', function (event) {
    const reason = event.reason;
    if (reason && reason.name === 'Canceled' && reason.message === 'Canceled') event.preventDefault();
  });

  window.minicodeEditor = {
    /** Creates the editor inside `element`; resolves when it is ready. */
    create: function (element) {
      return loadMonaco().then(function (monaco) {
        const first = monacoRef === null;
        monacoRef = monaco;
        if (first) configureTypeScript(monaco);
        if (editor) editor.dispose();
        editor = monaco.editor.create(element, {
          model: null,
          theme: dark() ? 'vs-dark' : 'vs',
          automaticLayout: true,
          minimap: { enabled: false },
          fontSize: 13,
          tabSize: 2,
          scrollBeyondLastLine: false,
          wordWrap: 'off',
        });
        shown = null;
        editor.onDidChangeModelContent(function () {
          if (!applying && changeCallback) changeCallback();
        });
        editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, function () {
          if (saveCallback) saveCallback();
        });
      });
    },
    ready: function () { return editor !== null; },
    /** Shows the file `path` (its own model, made if needed). */
    show: function (path, language) {
      if (!editor) return;
      if (shown !== null && editor.getModel()) viewStates.set(shown, editor.saveViewState());
      const model = modelOf(path, '', language);
      if (model.getLanguageId() !== language) monacoRef.editor.setModelLanguage(model, language);
      if (editor.getModel() !== model) editor.setModel(model);
      shown = path;
      const view = viewStates.get(path);
      if (view) editor.restoreViewState(view);
    },
    setValue: function (text) {
      if (!editor || !editor.getModel()) return;
      if (editor.getValue() === text) return;
      quietly(function () { editor.getModel().setValue(text); });
    },
    /** Appends streamed text at the end and keeps the end in view. */
    appendValue: function (chunk) {
      if (!editor || !editor.getModel()) return;
      const model = editor.getModel();
      const line = model.getLineCount();
      const column = model.getLineMaxColumn(line);
      quietly(function () {
        model.applyEdits([{ range: new monacoRef.Range(line, column, line, column), text: chunk }]);
      });
      editor.revealLine(model.getLineCount());
    },
    revealLine: function (line) {
      if (!editor || !editor.getModel()) return;
      editor.setPosition({ lineNumber: line, column: 1 });
      editor.revealLineInCenter(line);
      editor.focus();
    },
    getValue: function () { return editor && editor.getModel() ? editor.getValue() : ''; },
    setReadOnly: function (readOnly) {
      if (editor) editor.updateOptions({ readOnly: readOnly });
    },
    /**
     * The stored text of a file that is not shown: script files are kept as
     * models so imports of them resolve. The shown file is the page's to set.
     */
    syncFile: function (path, text) {
      if (!monacoRef) return;
      if (path === 'tsconfig.json') applyTsconfig(text);
      if (path === shown) return;
      const model = models.get(path);
      if (!model && !SCRIPT.test(path)) return;
      if (!model) { modelOf(path, text); return; }
      if (model.getValue() !== text) model.setValue(text);
    },
    /** A deleted file: its model goes (unless it is shown; the page clears it). */
    dropFile: function (path) {
      const model = models.get(path);
      viewStates.delete(path);
      if (!model || path === shown) return;
      models.delete(path);
      model.dispose();
    },
    /**
     * Loads the declarations of the installed dependencies from `url`
     * (`GET /api/projects/:id/types`) into the checker, then turns on
     * semantic checks. Not installed yet: they stay off until the page asks
     * again (after `deps_installed`).
     */
    loadTypes: function (url) {
      if (!monacoRef) return Promise.resolve(false);
      const load = fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (res) {
          if (!res.ok) throw new Error('the type declarations could not be loaded: HTTP ' + res.status);
          return res.json();
        })
        .then(function (body) {
          const data = body.data;
          if (!data.installed) return false;
          const libs = data.files.map(function (f) {
            return { content: f.content, filePath: 'file:///' + f.path };
          });
          const ts = monacoRef.languages.typescript;
          ts.typescriptDefaults.setExtraLibs(libs);
          ts.javascriptDefaults.setExtraLibs(libs);
          semanticChecks(true);
          typesReady = true;
          return true;
        });
      return load.catch(function () { return false; });
    },
    typesLoaded: function () { return typesReady; },
    /** The errors and warnings the checker reports, per file (for tests and the status line). */
    problems: function () {
      if (!monacoRef) return [];
      return monacoRef.editor.getModelMarkers({}).map(function (m) {
        return {
          path: m.resource.path.replace(/^\//, ''),
          line: m.startLineNumber,
          severity: m.severity >= 8 ? 'error' : m.severity >= 4 ? 'warning' : 'info',
          message: m.message,
        };
      });
    },
    onChange: function (callback) { changeCallback = callback; },
    onSave: function (callback) { saveCallback = callback; },
    /** Leaving the project: its editor, files and declarations go. */
    dispose: function () {
      if (editor) editor.dispose();
      editor = null;
      shown = null;
      changeCallback = null;
      saveCallback = null;
      models.forEach(function (model) { model.dispose(); });
      models.clear();
      viewStates.clear();
      if (monacoRef) {
        const ts = monacoRef.languages.typescript;
        ts.typescriptDefaults.setExtraLibs([]);
        ts.javascriptDefaults.setExtraLibs([]);
        // The next project starts from the defaults, not this tsconfig.
        configureTypeScript(monacoRef);
      }
      typesReady = false;
    },
  };
})();
