"""User code: the functions and module files a chain hands to TFX.

- `user_code`: a module file, a dotted path or a function object turned into
  what TFX takes (`module_file` or `<fn>` arguments), with a content hash;
- `module_slice`: a module file cut to one step's function and what it uses
  (parsed, never imported), so an edit re-runs only the steps using it;
- `function_source`: a function written out as reviewable source, with what
  it uses;
- `packages`: whether a module is an installed package or the user's own;
- `wheels`: TFX's user-code wheels reused while the module is unchanged;
- `code_location`: where in the user's own file a run failed.

It knows nothing of the chain: the layers above pass it functions, paths and
plans.
"""
