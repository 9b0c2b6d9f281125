//! Tests of the host image recipes: manifests, references, `ldd` parsing.
use pretty_assertions::assert_eq;

use super::*;

#[test]
fn ldd_output_gives_every_library_and_loader_once() {
    let text = "/usr/bin/ls:\n\tlinux-vdso.so.1 (0x00007ffc)\n\tlibselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n/usr/bin/true:\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n/script:\n\tnot a dynamic executable\n";
    assert_eq!(
        parse_ldd(text),
        vec![
            PathBuf::from("/lib/x86_64-linux-gnu/libselinux.so.1"),
            PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
            PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
        ]
    );
}

#[test]
fn paths_keep_their_symlinks_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(root.join("usr/lib/real.so"), b"x").unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    std::os::unix::fs::symlink("real.so", root.join("usr/lib/alias.so")).unwrap();
    let mut manifest = Manifest::default();
    add_path(&mut manifest, &root.join("lib/alias.so"), 0).unwrap();
    assert_eq!(
        manifest.entries.get(&root.join("lib")),
        Some(&Entry::Symlink("usr/lib".into()))
    );
    assert_eq!(
        manifest.entries.get(&root.join("usr/lib/alias.so")),
        Some(&Entry::Symlink("real.so".into()))
    );
    assert_eq!(
        manifest.entries.get(&root.join("usr/lib/real.so")),
        Some(&Entry::File(root.join("usr/lib/real.so")))
    );
    std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
    assert!(add_path(&mut manifest, &root.join("loop"), 0).is_err());
    assert_eq!(
        normalize(Path::new("/a/b/../../c/./d")),
        PathBuf::from("/c/d")
    );
}

#[test]
fn the_reference_changes_with_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool");
    std::fs::write(&file, b"one").unwrap();
    let recipe = HostImage {
        repository: "test-repo".into(),
        programs: Vec::new(),
        trees: Vec::new(),
        files: vec![file.clone()],
        env: Vec::new(),
    };
    let first = recipe.reference(&recipe.manifest().unwrap()).unwrap();
    assert!(first.starts_with("test-repo:"));
    assert_eq!(
        first,
        recipe.reference(&recipe.manifest().unwrap()).unwrap()
    );
    std::fs::write(&file, b"longer content").unwrap();
    let second = recipe.reference(&recipe.manifest().unwrap()).unwrap();
    assert_ne!(first, second);
    let mut with_env = recipe.clone();
    with_env.env.push(("A".into(), "b".into()));
    assert_ne!(
        second,
        with_env.reference(&with_env.manifest().unwrap()).unwrap()
    );
}

#[test]
fn the_shell_recipe_resolves_on_this_host_with_its_libraries() {
    let manifest = HostImage::shell_tools().manifest().unwrap();
    assert!(
        !manifest.missing.contains(&"bash".to_string()),
        "{:?}",
        manifest.missing
    );
    let has_libc = manifest
        .entries
        .keys()
        .any(|p| p.to_string_lossy().contains("libc.so"));
    assert!(has_libc, "no libc in the manifest");
    assert!(matches!(
        manifest.entries.get(Path::new("/tmp")),
        Some(Entry::Dir(0o1777))
    ));
}
