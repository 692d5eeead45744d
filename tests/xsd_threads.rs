//! XSDs compiled on several threads at once as the process's first use of libxml2, as
//! `serve` compiles its profiles: each compiles. Alone in its test binary, so no other
//! test has set libxml2 up first (libxml2 before 2.11 built XSD's table of built-in types
//! lazily, and two threads building it at once lost types: "xs:dateTime does not resolve").

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::sync::{Arc, Barrier};

use raccordo::formats::xsd::XsdSchema;

const XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="request">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="at" type="xs:dateTime"/>
        <xs:element name="from" type="xs:date"/>
        <xs:element name="hours" type="xs:decimal"/>
        <xs:element name="code" type="xs:token"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>"#;

#[test]
fn xsds_compiled_at_once_on_several_threads_each_compile() {
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let compiling: Vec<_> = (0..threads)
        .map(|n| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                XsdSchema::compile(&format!("t{n}.xsd"), XSD.as_bytes()).map(|_| ())
            })
        })
        .collect();
    for (n, thread) in compiling.into_iter().enumerate() {
        assert_eq!(thread.join().unwrap(), Ok(()), "thread {n}");
    }
}
