//! XML decoding into an element tree, with the defences a gateway facing the public needs.
//!
//! DOCTYPE declarations are refused outright, which closes XXE and entity-expansion attacks
//! at the door: without a DTD only the five predefined entities and character references
//! exist. Size, depth and element count are limited before anything is allocated for them.
//! Documents declared ISO-8859-1 or Windows-1252 (common in older Italian PA systems) are
//! transcoded to UTF-8 first; others must be UTF-8.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use crate::error::{Diagnostic, ErrorCode};

/// Limits on one XML document.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    pub max_bytes: u64,
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits { max_bytes: super::DEFAULT_MAX_MESSAGE_BYTES, max_depth: 64, max_elements: 100_000 }
    }
}

/// A decoded document: elements in document order, the root first.
///
/// Names, texts and attribute values are spans of the document's UTF-8 text (the input
/// itself, or its transcoding) wherever it holds them verbatim, nearly always: decoding
/// allocates per document, not per element. Only a text in several pieces (split by a child, a
/// reference or CDATA) or a value with references is a string of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlDocument<'s> {
    source: Cow<'s, str>,
    elements: Vec<Element>,
    attributes: Vec<Attribute>,
    namespaces: Vec<String>,
}

/// Index of an element in its document.
pub type ElementId = usize;

/// A string of a decoded document: a byte range of its text, or one of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Str {
    Span(usize, usize),
    Owned(String),
}

impl Str {
    const EMPTY: Str = Str::Span(0, 0);

    fn get<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            Str::Span(start, end) => source.get(*start..*end).unwrap_or_default(),
            Str::Owned(text) => text,
        }
    }
}

/// An element. Children are linked (first child, next sibling) rather than listed, so an
/// element costs no allocation of its own; `0` means none, the root being no one's child.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    /// Index into the document's namespaces, `None` when unqualified.
    namespace: Option<usize>,
    name: Str,
    /// Character data directly inside the element (text and CDATA), untrimmed.
    text: Str,
    /// Range of the document's attributes.
    attributes: (usize, usize),
    parent: Option<ElementId>,
    first_child: ElementId,
    last_child: ElementId,
    next_sibling: ElementId,
    /// 1-based line of the start tag.
    line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Attribute {
    namespace: Option<usize>,
    name: Str,
    value: Str,
}

impl XmlDocument<'_> {
    pub fn root(&self) -> ElementId {
        0
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The local name of an element.
    pub fn name(&self, id: ElementId) -> &str {
        self.elements[id].name.get(&self.source)
    }

    /// The character data directly inside an element, untrimmed.
    pub fn text(&self, id: ElementId) -> &str {
        self.elements[id].text.get(&self.source)
    }

    /// The 1-based line of an element's start tag.
    pub fn line(&self, id: ElementId) -> u64 {
        self.elements[id].line
    }

    pub fn parent(&self, id: ElementId) -> Option<ElementId> {
        self.elements[id].parent
    }

    /// The namespace URI of an element, if qualified.
    pub fn namespace(&self, id: ElementId) -> Option<&str> {
        self.elements[id].namespace.map(|index| self.namespaces[index].as_str())
    }

    /// Whether the element has this namespace (`None`: unqualified) and local name.
    pub fn is(&self, id: ElementId, namespace: Option<&str>, name: &str) -> bool {
        self.name(id) == name && self.namespace(id) == namespace
    }

    /// Every child of an element, in document order.
    pub fn all_children(&self, id: ElementId) -> impl Iterator<Item = ElementId> + '_ {
        children_of(&self.elements, id)
    }

    /// Children with this namespace and local name, in document order.
    pub fn children<'a>(
        &'a self,
        id: ElementId,
        namespace: Option<&'a str>,
        name: &'a str,
    ) -> impl Iterator<Item = ElementId> + 'a {
        self.all_children(id).filter(move |&child| self.is(child, namespace, name))
    }

    /// The value of an attribute.
    pub fn attribute(&self, id: ElementId, namespace: Option<&str>, name: &str) -> Option<&str> {
        let (start, end) = self.elements[id].attributes;
        self.attributes[start..end]
            .iter()
            .find(|a| a.name.get(&self.source) == name && a.namespace.map(|i| self.namespaces[i].as_str()) == namespace)
            .map(|a| a.value.get(&self.source))
    }

    /// An XPath-like location of an element, with 1-based positions among same-named
    /// siblings where there are several: `/inputUniLav/Lavoratore/AnagraficaCompleta`.
    pub fn path(&self, id: ElementId) -> String {
        element_path(&self.source, &self.elements, id)
    }
}

/// The children of an element, following the links.
fn children_of(elements: &[Element], id: ElementId) -> impl Iterator<Item = ElementId> + '_ {
    let first = elements[id].first_child;
    std::iter::successors((first != 0).then_some(first), |&child| {
        let next = elements[child].next_sibling;
        (next != 0).then_some(next)
    })
}

/// `XmlDocument::path` over a document's parts, so that a document being built can name
/// where it went wrong.
fn element_path(source: &str, elements: &[Element], id: ElementId) -> String {
    let mut segments = Vec::new();
    let mut current = Some(id);
    while let Some(index) = current {
        let element = &elements[index];
        let name = element.name.get(source);
        let segment = match element.parent {
            Some(parent) => {
                let same =
                    |&c: &ElementId| elements[c].name.get(source) == name && elements[c].namespace == element.namespace;
                let position = children_of(elements, parent).filter(same).position(|c| c == index);
                let several = children_of(elements, parent).filter(same).nth(1).is_some();
                match position {
                    Some(position) if several => format!("{name}[{}]", position + 1),
                    _ => name.to_owned(),
                }
            }
            None => name.to_owned(),
        };
        segments.push(segment);
        current = element.parent;
    }
    segments.reverse();
    format!("/{}", segments.join("/"))
}

/// Decodes one XML document.
pub fn decode(bytes: &[u8], limits: XmlLimits) -> Result<XmlDocument<'_>, Diagnostic> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Diagnostic::error(
            ErrorCode::InputTooLarge,
            "",
            format!("the input is larger than the limit of {} bytes", limits.max_bytes),
        ));
    }
    let text = to_utf8(bytes)?;
    if text.trim().is_empty() {
        return Err(Diagnostic::error(ErrorCode::InputEmpty, "", "the input is empty"));
    }
    let (elements, attributes, namespaces) = Builder::new(&text, limits).run()?;
    Ok(XmlDocument { source: text, elements, attributes, namespaces })
}

/// The document as UTF-8 text, transcoded from the encoding its declaration names.
fn to_utf8(bytes: &[u8]) -> Result<Cow<'_, str>, Diagnostic> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let label = declared_encoding(bytes).map(|label| label.to_ascii_lowercase());
    match label.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Cow::Borrowed(text)),
            Err(error) => {
                let (line, column) = position(bytes, error.valid_up_to());
                Err(Diagnostic::error(ErrorCode::EncodingInvalid, "", "the document is not valid UTF-8")
                    .at_text(line, column))
            }
        },
        // ISO-8859-1 is read as its superset Windows-1252, as browsers and most Italian PA
        // systems do: they differ only in 0x80-0x9F, which are unused controls in Latin-1.
        Some("iso-8859-1" | "latin1" | "iso8859-1" | "windows-1252" | "cp1252" | "iso-8859-15") => {
            let encoding = if label.as_deref() == Some("iso-8859-15") {
                encoding_rs::ISO_8859_15
            } else {
                encoding_rs::WINDOWS_1252
            };
            let (text, _, _) = encoding.decode(bytes);
            Ok(text)
        }
        Some(other) => Err(Diagnostic::error(
            ErrorCode::EncodingUnsupported,
            "",
            format!("the declared encoding {other:?} is not supported: use UTF-8, ISO-8859-1 or Windows-1252"),
        )
        .at_text(1, 1)),
    }
}

/// The `encoding` of an XML declaration, if the document starts with one.
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let declaration = bytes.strip_prefix(b"<?xml")?;
    let end = declaration.windows(2).position(|w| w == b"?>")?;
    let declaration = std::str::from_utf8(&declaration[..end]).ok()?;
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    value.find(quote).map(|end| &value[..end])
}

/// 1-based line and column of a byte offset.
fn position(bytes: &[u8], offset: usize) -> (u64, u64) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
    (line, column)
}

struct Builder<'t> {
    text: &'t str,
    reader: NsReader<&'t [u8]>,
    limits: XmlLimits,
    elements: Vec<Element>,
    attributes: Vec<Attribute>,
    namespaces: Vec<String>,
    stack: Vec<ElementId>,
    /// Line counting is incremental: newlines between `counted` and the reader's position.
    counted: usize,
    line: u64,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str, limits: XmlLimits) -> Self {
        let mut reader = NsReader::from_reader(text.as_bytes());
        reader.config_mut().check_end_names = true;
        // Room for every element up front (at most one per `<`), within the limit.
        let tags = memchr::memchr_iter(b'<', text.as_bytes()).count();
        Builder {
            text,
            reader,
            limits,
            elements: Vec::with_capacity(tags.min(limits.max_elements)),
            attributes: Vec::new(),
            namespaces: Vec::new(),
            stack: Vec::new(),
            counted: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.text.len());
        if offset > self.counted {
            self.line += memchr::memchr_iter(b'\n', &self.text.as_bytes()[self.counted..offset]).count() as u64;
            self.counted = offset;
        }
        self.line
    }

    fn error(&mut self, code: ErrorCode, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, column) = position(self.text.as_bytes(), offset);
        let path = self.stack.last().map(|&id| element_path(self.text, &self.elements, id)).unwrap_or_default();
        Diagnostic::error(code, path, message).at_text(line, column)
    }

    /// A string of the document: a span of its text when `piece` is a slice of it.
    fn string(&self, piece: &str) -> Str {
        let start = (piece.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        match start.checked_add(piece.len()) {
            Some(end) if end <= self.text.len() => Str::Span(start, end),
            _ => Str::Owned(piece.to_owned()),
        }
    }

    #[allow(clippy::type_complexity)]
    fn run(mut self) -> Result<(Vec<Element>, Vec<Attribute>, Vec<String>), Diagnostic> {
        loop {
            let before = self.reader.buffer_position() as usize;
            // Events borrow from the input: nothing is copied but what the tree keeps.
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(error) => {
                    let offset = self.reader.error_position() as usize;
                    return Err(self.error(ErrorCode::XmlSyntax, offset, format!("not well-formed XML: {error}")));
                }
            };
            match event {
                Event::Start(start) => {
                    self.open(&start, before)?;
                }
                Event::Empty(start) => {
                    self.open(&start, before)?;
                    self.stack.pop();
                }
                Event::End(_) => {
                    self.stack.pop();
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    self.append_text(&content, before)?;
                }
                Event::CData(data) => {
                    let content = data.xml10_content();
                    self.append_text(&content, before)?;
                }
                Event::GeneralRef(reference) => {
                    let character = match reference.resolve_char_ref() {
                        Ok(Some(character)) => Some(character),
                        Ok(None) => predefined_entity(&reference.into_inner()),
                        Err(_) => None,
                    };
                    match character {
                        Some(character) => self.append_text(character.encode_utf8(&mut [0; 4]), before)?,
                        None => {
                            return Err(self.error(
                                ErrorCode::XmlEntityForbidden,
                                before,
                                "an entity reference other than the five predefined ones or a character reference",
                            ))
                        }
                    }
                }
                Event::DocType(_) => {
                    return Err(self.error(
                        ErrorCode::XmlDoctypeForbidden,
                        before,
                        "DOCTYPE declarations are refused (they enable entity expansion and external entities)",
                    ))
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(&open) = self.stack.last() {
            // A truncated document: quick-xml ends without complaint when input runs out
            // inside an element, so the unclosed element is named here, at the last line.
            let end = self.text.len();
            let name = self.elements[open].name.get(self.text).to_owned();
            return Err(self.error(
                ErrorCode::XmlSyntax,
                end,
                format!("the document ends before the element {name} is closed (truncated?)"),
            ));
        }
        if self.elements.is_empty() {
            return Err(Diagnostic::error(ErrorCode::XmlSyntax, "", "the document has no root element"));
        }
        Ok((self.elements, self.attributes, self.namespaces))
    }

    fn append_text(&mut self, content: &str, offset: usize) -> Result<(), Diagnostic> {
        match self.stack.last() {
            Some(&id) => {
                let piece = self.string(content);
                let text = &mut self.elements[id].text;
                *text = match (std::mem::replace(text, Str::EMPTY), piece) {
                    (Str::Span(start, end), piece) if start == end => piece,
                    // Adjacent in the input (rare: quick-xml hands text over in one piece).
                    (Str::Span(start, end), Str::Span(next, last)) if end == next => Str::Span(start, last),
                    (Str::Span(start, end), _) => {
                        let mut joined = String::with_capacity(end - start + content.len());
                        joined.push_str(self.text.get(start..end).unwrap_or_default());
                        joined.push_str(content);
                        Str::Owned(joined)
                    }
                    (Str::Owned(mut joined), _) => {
                        joined.push_str(content);
                        Str::Owned(joined)
                    }
                };
                Ok(())
            }
            None if content.trim().is_empty() => Ok(()),
            None => Err(self.error(ErrorCode::XmlSyntax, offset, "text outside the root element")),
        }
    }

    fn open(&mut self, start: &BytesStart<'_>, offset: usize) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.error(
                ErrorCode::DepthExceeded,
                offset,
                format!("elements nest deeper than {} levels", self.limits.max_depth),
            ));
        }
        if self.elements.len() >= self.limits.max_elements {
            return Err(self.error(
                ErrorCode::XmlTooManyElements,
                offset,
                format!("the document has more than {} elements", self.limits.max_elements),
            ));
        }
        if self.stack.is_empty() && !self.elements.is_empty() {
            return Err(self.error(ErrorCode::XmlSyntax, offset, "a second root element"));
        }
        let (resolved, local) = self.reader.resolver().resolve_element(start.name());
        let name = self.string(local.as_ref());
        // Resolving borrows the reader and interning the namespaces: disjoint fields, so no
        // copy of the namespace is needed on the way.
        let namespace = intern(&mut self.namespaces, resolved);
        let namespace = namespace.map_err(|prefix| self.unknown_prefix(&prefix, offset))?;
        let first_attribute = self.attributes.len();
        for attribute in start.attributes() {
            let attribute = attribute
                .map_err(|error| self.error(ErrorCode::XmlSyntax, offset, format!("malformed attribute: {error}")))?;
            let key = attribute.key;
            if key.as_ref() == "xmlns" || key.as_ref().starts_with("xmlns:") {
                continue;
            }
            let (resolved, local) = self.reader.resolver().resolve_attribute(key);
            let local = self.string(local.as_ref());
            let attribute_namespace = intern(&mut self.namespaces, resolved);
            let attribute_namespace = attribute_namespace.map_err(|prefix| self.unknown_prefix(&prefix, offset))?;
            let value = attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|error| {
                self.error(ErrorCode::XmlEntityForbidden, offset, format!("attribute value: {error}"))
            })?;
            let value = match value {
                Cow::Borrowed(value) => self.string(value),
                Cow::Owned(value) => Str::Owned(value),
            };
            self.attributes.push(Attribute { namespace: attribute_namespace, name: local, value });
        }
        let line = self.line_at(offset);
        let id = self.elements.len();
        let parent = self.stack.last().copied();
        if let Some(parent) = parent {
            let previous = std::mem::replace(&mut self.elements[parent].last_child, id);
            if previous == 0 {
                self.elements[parent].first_child = id;
            } else {
                self.elements[previous].next_sibling = id;
            }
        }
        self.elements.push(Element {
            namespace,
            name,
            text: Str::EMPTY,
            attributes: (first_attribute, self.attributes.len()),
            parent,
            first_child: 0,
            last_child: 0,
            next_sibling: 0,
            line,
        });
        self.stack.push(id);
        Ok(())
    }

    fn unknown_prefix(&mut self, prefix: &str, offset: usize) -> Diagnostic {
        self.error(ErrorCode::XmlNamespaceUnknown, offset, format!("the prefix {prefix:?} is not declared"))
    }
}

/// The index of a resolved namespace in `namespaces` (added if new), `None` when the name
/// is unqualified, or the undeclared prefix.
fn intern(namespaces: &mut Vec<String>, resolved: ResolveResult<'_>) -> Result<Option<usize>, String> {
    match resolved {
        ResolveResult::Bound(namespace) => {
            let uri = namespace.as_ref();
            Ok(Some(match namespaces.iter().position(|known| known == uri) {
                Some(index) => index,
                None => {
                    namespaces.push(uri.to_owned());
                    namespaces.len() - 1
                }
            }))
        }
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(prefix),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// An XML document being written: elements in creation order, which is the order they
/// are written in. Writers add elements in the order their schema's sequences require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlOut {
    elements: Vec<OutElement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OutElement {
    namespace: Option<String>,
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<ElementId>,
    text: Option<String>,
}

impl XmlOut {
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        XmlOut { elements: vec![OutElement::new(namespace, name)] }
    }

    pub fn root(&self) -> ElementId {
        0
    }

    /// The first child with this name, created if there is none.
    pub fn child(&mut self, parent: ElementId, namespace: Option<&str>, name: &str) -> ElementId {
        self.find(parent, namespace, name).unwrap_or_else(|| self.append(parent, namespace, name))
    }

    /// The first child with this name, if any.
    pub fn find(&self, parent: ElementId, namespace: Option<&str>, name: &str) -> Option<ElementId> {
        self.elements[parent]
            .children
            .iter()
            .copied()
            .find(|&child| self.elements[child].name == name && self.elements[child].namespace.as_deref() == namespace)
    }

    /// The first child with this name whose own child `key` has the text `value`: the
    /// repeated element that a mapping path selects with `name[key=value]`.
    pub fn find_where(
        &self,
        parent: ElementId,
        namespace: Option<&str>,
        name: &str,
        key: (Option<&str>, &str),
        value: &str,
    ) -> Option<ElementId> {
        self.elements[parent].children.iter().copied().find(|&child| {
            self.elements[child].name == name
                && self.elements[child].namespace.as_deref() == namespace
                && self
                    .find(child, key.0, key.1)
                    .is_some_and(|found| self.elements[found].text.as_deref() == Some(value))
        })
    }

    /// Whether the element has a non-empty value: the attribute `name`, or its text.
    pub fn has_value(&self, element: ElementId, attribute: Option<&str>) -> bool {
        let element = &self.elements[element];
        match attribute {
            Some(name) => element.attributes.iter().any(|(known, value)| known == name && !value.is_empty()),
            None => element.text.as_deref().is_some_and(|text| !text.is_empty()),
        }
    }

    /// A new child, after the existing ones.
    pub fn append(&mut self, parent: ElementId, namespace: Option<&str>, name: &str) -> ElementId {
        let id = self.elements.len();
        self.elements.push(OutElement::new(namespace, name));
        self.elements[parent].children.push(id);
        id
    }

    pub fn set_attribute(&mut self, element: ElementId, name: &str, value: String) {
        let attributes = &mut self.elements[element].attributes;
        match attributes.iter_mut().find(|(existing, _)| existing == name) {
            Some(slot) => slot.1 = value,
            None => attributes.push((name.to_owned(), value)),
        }
    }

    pub fn set_text(&mut self, element: ElementId, text: String) {
        self.elements[element].text = Some(text);
    }

    /// Writes the document as UTF-8 with two-space indentation, declaring `namespaces`
    /// (prefix, URI; the prefix "" is the default namespace) on the root. An element in a namespace without a prefix is an
    /// internal error: profiles declare every namespace they write.
    pub fn encode(&self, namespaces: &[(String, String)]) -> Result<Vec<u8>, Diagnostic> {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write_element(0, 0, namespaces, &mut out)?;
        Ok(out.into_bytes())
    }

    fn write_element(
        &self,
        id: ElementId,
        depth: usize,
        namespaces: &[(String, String)],
        out: &mut String,
    ) -> Result<(), Diagnostic> {
        let element = &self.elements[id];
        let name = match &element.namespace {
            Some(uri) => {
                let prefix =
                    namespaces.iter().find(|(_, known)| known == uri).map(|(prefix, _)| prefix).ok_or_else(|| {
                        Diagnostic::error(
                            ErrorCode::Internal,
                            "",
                            format!("no prefix is declared for the namespace {uri}"),
                        )
                    })?;
                if prefix.is_empty() {
                    element.name.clone()
                } else {
                    format!("{prefix}:{}", element.name)
                }
            }
            None => element.name.clone(),
        };
        let indent = "  ".repeat(depth);
        out.push_str(&indent);
        out.push('<');
        out.push_str(&name);
        if depth == 0 {
            for (prefix, uri) in namespaces {
                let attribute = if prefix.is_empty() { "xmlns".to_owned() } else { format!("xmlns:{prefix}") };
                out.push_str(&format!(" {attribute}=\"{}\"", quick_xml::escape::escape(uri.as_str())));
            }
        }
        for (attribute, value) in &element.attributes {
            out.push_str(&format!(" {attribute}=\"{}\"", quick_xml::escape::escape(value.as_str())));
        }
        match (&element.text, element.children.is_empty()) {
            (None, true) => out.push_str("/>\n"),
            (Some(text), true) => {
                out.push('>');
                out.push_str(&quick_xml::escape::escape(text.as_str()));
                out.push_str(&format!("</{name}>\n"));
            }
            (text, false) => {
                out.push_str(">\n");
                if let Some(text) = text {
                    out.push_str(&indent);
                    out.push_str("  ");
                    out.push_str(&quick_xml::escape::escape(text.as_str()));
                    out.push('\n');
                }
                for &child in &element.children {
                    self.write_element(child, depth + 1, namespaces, out)?;
                }
                out.push_str(&format!("{indent}</{name}>\n"));
            }
        }
        Ok(())
    }
}

impl OutElement {
    fn new(namespace: Option<&str>, name: &str) -> Self {
        OutElement {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            attributes: Vec::new(),
            children: Vec::new(),
            text: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_ok(text: &[u8]) -> XmlDocument<'_> {
        decode(text, XmlLimits::default()).unwrap()
    }

    fn check_error(text: &[u8], limits: XmlLimits, code: ErrorCode, path: &str, line: u64) {
        let error = decode(text, limits).unwrap_err();
        assert_eq!((error.code, error.path.as_str(), error.line), (code, path, Some(line)), "{error}");
    }

    #[test]
    fn namespaces_attributes_text_cdata_and_paths() {
        let document = decode_ok(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<u:inputUniLav xmlns:u="http://servizi.lavoro.gov.it/unilav" xmlns:x="urn:x">
  <u:Lavoratore codiceFiscale="RSSMRA80A01H501U" x:note="a &amp; b">
    <u:nome>Mario &#x41;<![CDATA[<raw>]]></u:nome>
    <u:nome>Second</u:nome>
  </u:Lavoratore>
</u:inputUniLav>"#,
        );
        let ns = Some("http://servizi.lavoro.gov.it/unilav");
        let root = document.root();
        assert!(document.is(root, ns, "inputUniLav"));
        let worker = document.children(root, ns, "Lavoratore").next().unwrap();
        assert_eq!(document.attribute(worker, None, "codiceFiscale"), Some("RSSMRA80A01H501U"));
        assert_eq!(document.attribute(worker, Some("urn:x"), "note"), Some("a & b"));
        let names: Vec<ElementId> = document.children(worker, ns, "nome").collect();
        assert_eq!(document.text(names[0]), "Mario A<raw>");
        assert_eq!(document.line(names[0]), 4);
        assert_eq!(document.path(names[1]), "/inputUniLav/Lavoratore/nome[2]");
        assert_eq!(document.children(worker, None, "nome").count(), 0, "namespaces are part of names");
    }

    #[test]
    fn text_in_several_pieces_is_joined_in_order() {
        let document = decode_ok(b"<r>one<x>inner</x> two<![CDATA[ <three>]]>&#x21;<y/>\r\n</r>");
        assert_eq!(document.text(0), "one two <three>!\n");
        let x = document.children(0, None, "x").next().unwrap();
        assert_eq!((document.text(x), document.parent(x)), ("inner", Some(0)));
        let names: Vec<&str> = document.all_children(0).map(|c| document.name(c)).collect();
        assert_eq!(names, ["x", "y"]);
    }

    #[test]
    fn written_documents_decode_back() {
        let ns = "http://servizi.lavoro.gov.it/unilav";
        let mut out = XmlOut::new(Some(ns), "inputUniLav");
        let worker = out.child(out.root(), Some(ns), "Lavoratore");
        out.set_attribute(worker, "codiceFiscale", "RSSMRA80A01H501U".into());
        let name = out.child(worker, Some(ns), "nome");
        out.set_text(name, "Mario & <Co>".into());
        assert_eq!(out.child(worker, Some(ns), "nome"), name);
        let second = out.append(worker, Some(ns), "nome");
        out.set_text(second, "Luigi".into());
        let bytes = out.encode(&[("co".into(), ns.into())]).unwrap();
        expect_test::expect![[r#"
            <?xml version="1.0" encoding="UTF-8"?>
            <co:inputUniLav xmlns:co="http://servizi.lavoro.gov.it/unilav">
              <co:Lavoratore codiceFiscale="RSSMRA80A01H501U">
                <co:nome>Mario &amp; &lt;Co&gt;</co:nome>
                <co:nome>Luigi</co:nome>
              </co:Lavoratore>
            </co:inputUniLav>
        "#]]
        .assert_eq(std::str::from_utf8(&bytes).unwrap());
        let document = decode_ok(&bytes);
        let worker = document.children(0, Some(ns), "Lavoratore").next().unwrap();
        let names: Vec<&str> = document.children(worker, Some(ns), "nome").map(|n| document.text(n)).collect();
        assert_eq!(names, ["Mario & <Co>", "Luigi"]);
        assert_eq!(out.encode(&[]).unwrap_err().code, ErrorCode::Internal);
    }

    #[test]
    fn latin1_and_windows_1252_are_transcoded() {
        let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>Citt\xe0 \x80</a>";
        assert_eq!(decode_ok(latin1).text(0), "Citt\u{e0} \u{20ac}");
        let utf8 = "<a>Città</a>".as_bytes();
        assert_eq!(decode_ok(utf8).text(0), "Città");
    }

    #[test]
    fn hostile_and_broken_documents_are_refused_with_a_location() {
        let limits = XmlLimits::default();
        check_error(
            b"<?xml version='1.0'?>\n<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>\n<a>&x;</a>",
            limits,
            ErrorCode::XmlDoctypeForbidden,
            "",
            2,
        );
        check_error(b"<a>\n<b>&nbsp;</b></a>", limits, ErrorCode::XmlEntityForbidden, "/a/b", 2);
        check_error(b"<a>\n<b></c></a>", limits, ErrorCode::XmlSyntax, "/a/b", 2);
        check_error(b"<a><p:b/></a>", limits, ErrorCode::XmlNamespaceUnknown, "/a", 1);
        check_error(b"<a>\xff</a>", limits, ErrorCode::EncodingInvalid, "", 1);
        check_error(b"<?xml version='1.0' encoding='UTF-16'?><a/>", limits, ErrorCode::EncodingUnsupported, "", 1);
        let deep = "<a>".repeat(10) + &"</a>".repeat(10);
        check_error(deep.as_bytes(), XmlLimits { max_depth: 5, ..limits }, ErrorCode::DepthExceeded, "/a/a/a/a/a", 1);
        let wide = format!("<a>{}</a>", "<b/>".repeat(10));
        check_error(wide.as_bytes(), XmlLimits { max_elements: 5, ..limits }, ErrorCode::XmlTooManyElements, "/a", 1);
        check_error(b"<a/><b/>", limits, ErrorCode::XmlSyntax, "", 1);
        check_error(b"<a>\n<b>\n<c>text", limits, ErrorCode::XmlSyntax, "/a/b/c", 3);
        assert_eq!(decode(b" ", limits).unwrap_err().code, ErrorCode::InputEmpty);
        assert_eq!(decode(b"<a/>", XmlLimits { max_bytes: 2, ..limits }).unwrap_err().code, ErrorCode::InputTooLarge);
    }
}
