//! XML decoding, then, for what decodes, every accessor and the element paths every
//! diagnostic uses, with the tree's invariants: every element but the root is the child of
//! its parent exactly once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raccordo::formats::xml::{decode, XmlLimits};

fuzz_target!(|data: &[u8]| {
    let limits = XmlLimits { max_bytes: 1 << 20, max_depth: 32, max_elements: 10_000 };
    if let Ok(document) = decode(data, limits) {
        let mut children = 0;
        for id in 0..document.len() {
            let _ = document.path(id);
            let (name, namespace) = (document.name(id), document.namespace(id));
            assert!(document.is(id, namespace, name));
            let _ = (document.text(id).len(), document.line(id), document.attribute(id, None, name));
            for child in document.all_children(id) {
                assert_eq!(document.parent(child), Some(id));
                children += 1;
            }
        }
        assert_eq!(children + 1, document.len());
    }
});
