//! The bundled demo: a small repository with a real bug and failing tests, an issue, and a
//! recorded trajectory that the scripted provider replays.

/// The demo repository's files, relative path and content.
pub const REPO_FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../demo/repo/README.md")),
    (".gitignore", include_str!("../demo/repo/.gitignore")),
    ("AGENTS.md", include_str!("../demo/repo/AGENTS.md")),
    (".drydock.toml", include_str!("../demo/repo/.drydock.toml")),
    (
        "pager/__init__.py",
        include_str!("../demo/repo/pager/__init__.py"),
    ),
    (
        "pager/paginate.py",
        include_str!("../demo/repo/pager/paginate.py"),
    ),
    (
        "tests/__init__.py",
        include_str!("../demo/repo/tests/__init__.py"),
    ),
    (
        "tests/test_paginate.py",
        include_str!("../demo/repo/tests/test_paginate.py"),
    ),
];

/// The issue the demo task resolves.
pub const ISSUE: &str = include_str!("../demo/issue.md");

/// The recorded trajectory (docs/trajectory-format.md).
pub const TRAJECTORY: &str = include_str!("../demo/trajectory.json");
