//! The reader never panics: not on arbitrary bytes, not on the fixtures' configurations mutated
//! at random (bytes deleted, inserted, replaced, braces and quotes added), and every refusal
//! names a line inside the text.

use std::path::Path;

use hadome_nginx::error::ReadError;
use proptest::prelude::*;

fn fixture_texts() -> Vec<String> {
    let mut texts = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("read a fixture directory") {
            let path = entry.expect("a fixture entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "conf")
            {
                texts.push(std::fs::read_to_string(&path).expect("read a fixture"));
            }
        }
    }
    texts.sort();
    texts
}

fn as_dump(text: &str) -> String {
    format!("# configuration file /etc/nginx/nginx.conf:\n{text}\n")
}

fn read_and_check(dump: &str) {
    match hadome_nginx::read(dump) {
        Ok(nginx) => {
            let _ = hadome_nginx::lint::lint(&nginx, &Default::default());
        }
        Err(ReadError::Syntax { place, .. }) => {
            let lines = dump.lines().count() as u32 + 1;
            assert!(
                place.line >= 1 && place.line <= lines,
                "line {} of {lines}",
                place.line
            );
        }
        Err(_) => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        Just(b'{'),
        Just(b'}'),
        Just(b';'),
        Just(b'"'),
        Just(b'\''),
        Just(b'\\'),
        Just(b'#'),
        Just(b'$'),
        Just(b'\n'),
        any::<u8>()
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        (any::<usize>(), byte).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        read_and_check(&text);
        read_and_check(&as_dump(&text));
    }

    #[test]
    fn mutated_real_configurations_never_panic(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        let texts = fixture_texts();
        let mut bytes = texts[which % texts.len()].clone().into_bytes();
        for mutation in mutations {
            let length = bytes.len().max(1);
            match mutation {
                Mutation::Delete(at) if !bytes.is_empty() => { bytes.remove(at % length); }
                Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
                Mutation::Replace(at, byte) if !bytes.is_empty() => bytes[at % length] = byte,
                _ => {}
            }
        }
        read_and_check(&as_dump(&String::from_utf8_lossy(&bytes)));
    }
}

#[test]
fn deep_nesting_and_include_loops_are_refused_not_overflowed() {
    let deep = as_dump(&"location / {".repeat(200_000));
    assert!(matches!(
        hadome_nginx::read(&deep),
        Err(ReadError::Syntax { .. })
    ));
    let looped = "# configuration file /a.conf:\ninclude /b.conf;\ninclude /b.conf;\n# configuration file /b.conf:\ninclude /a.conf;\ninclude /a.conf;\n";
    assert!(matches!(
        hadome_nginx::read(looped),
        Err(ReadError::Syntax { .. })
    ));
}
