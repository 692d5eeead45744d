//! Compiled paths: JSON pointers into canonical messages, and party paths into XML, JSON
//! and record documents; reading through them and writing through them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::{Diagnostic, ErrorCode};
use crate::formats::records::Record;
use crate::formats::xml::{ElementId, XmlDocument, XmlOut};

/// A JSON pointer, split once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub text: String,
    segments: Vec<String>,
}

impl Pointer {
    /// Parses `/a/b~1c`; the empty string is the whole value.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer { text: String::new(), segments: Vec::new() });
        }
        let rest = text.strip_prefix('/').ok_or(format!("{text:?} is not a JSON pointer (it must start with '/')"))?;
        let segments = rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
        Ok(Pointer { text: text.to_owned(), segments })
    }

    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.segments.iter().try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)),
            _ => None,
        })
    }

    /// Sets the value, creating objects on the way. Returns false when a non-object is in
    /// the way (the mapping wrote a scalar where it now wants an object).
    pub fn set(&self, target: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.segments.split_last() else {
            *target = value;
            return true;
        };
        let mut current = target;
        for segment in parents {
            if current.is_null() {
                *current = Value::Object(Map::new());
            }
            current = match current {
                // Look before inserting: most keys exist already, and a clone per segment
                // per rule was the mapping's largest cost.
                Value::Object(map) => {
                    if !map.contains_key(segment) {
                        map.insert(segment.clone(), Value::Null);
                    }
                    match map.get_mut(segment) {
                        Some(value) => value,
                        None => return false,
                    }
                }
                Value::Array(items) => match segment.parse::<usize>().ok().and_then(|index| items.get_mut(index)) {
                    Some(item) => item,
                    None => return false,
                },
                _ => return false,
            };
        }
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        match current {
            Value::Object(map) => {
                map.insert(last.clone(), value);
                true
            }
            Value::Array(items) => match last.parse::<usize>().ok().and_then(|index| items.get_mut(index)) {
                Some(item) => {
                    *item = value;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Appends an empty object to the array at this pointer (creating it) and returns the
    /// pointer text of the new item.
    pub fn push_object(&self, target: &mut Value) -> Option<String> {
        if self.get(target).is_none() && !self.set(target, Value::Array(Vec::new())) {
            return None;
        }
        let mut current = target;
        for segment in &self.segments {
            current = match current {
                Value::Object(map) => map.get_mut(segment)?,
                Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        let Value::Array(items) = current else { return None };
        items.push(Value::Object(Map::new()));
        Some(format!("{}/{}", self.text, items.len() - 1))
    }

    pub fn join(&self, relative: &Pointer) -> Pointer {
        if self.segments.is_empty() {
            return relative.clone();
        }
        let mut segments = self.segments.clone();
        segments.extend(relative.segments.iter().cloned());
        Pointer { text: format!("{}{}", self.text, relative.text), segments }
    }

    /// `relative` from this base, borrowed when the base is the root (the common case).
    pub fn join_cow<'a>(&self, relative: &'a Pointer) -> std::borrow::Cow<'a, Pointer> {
        if self.segments.is_empty() {
            std::borrow::Cow::Borrowed(relative)
        } else {
            std::borrow::Cow::Owned(self.join(relative))
        }
    }
}

/// A qualified XML name: namespace URI (if any) and local name, and for a step of a path
/// that picks one of several same-named elements, the filter that picks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QName {
    pub namespace: Option<String>,
    pub local: String,
    pub filter: Option<Box<Filter>>,
}

/// `name[key=value]`: the element whose child `key` has the text `value` (the SAP's
/// `linguastraniera[codlingua=ITA]`). Written, the element is made with that child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: QName,
    pub value: String,
}

impl QName {
    /// Whether `element` passes this step's filter (always, without one).
    fn admits(&self, document: &XmlDocument<'_>, element: ElementId) -> bool {
        self.filter.as_ref().is_none_or(|filter| {
            document
                .children(element, filter.key.namespace.as_deref(), &filter.key.local)
                .next()
                .is_some_and(|key| document.text(key).trim() == filter.value)
        })
    }
}

/// Where a value is in a party document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartyPath {
    /// Child elements from the current element, then its text or one attribute.
    Xml {
        text: String,
        steps: Vec<QName>,
        attribute: Option<String>,
    },
    Json(Pointer),
    /// A CSV column or fixed-width field, by position.
    Field {
        name: String,
        index: usize,
    },
}

impl PartyPath {
    pub fn text(&self) -> &str {
        match self {
            PartyPath::Xml { text, .. } => text,
            PartyPath::Json(pointer) => &pointer.text,
            PartyPath::Field { name, .. } => name,
        }
    }

    /// Parses `co:Lavoratore/co:nascita/co:data`, `co:Lavoratore/@codiceFiscale` or `.`
    /// (the current element's text), resolving prefixes with `namespaces`.
    pub fn xml(text: &str, namespaces: &[(String, String)]) -> Result<PartyPath, String> {
        let mut steps = Vec::new();
        let mut attribute = None;
        let parts: Vec<&str> = text.split('/').collect();
        for (index, part) in parts.iter().enumerate() {
            if *part == "." && parts.len() == 1 {
                break;
            }
            if let Some(name) = part.strip_prefix('@') {
                if index + 1 != parts.len() {
                    return Err(format!("{text:?}: an attribute must be the last step"));
                }
                if name.contains(':') {
                    return Err(format!("{text:?}: qualified attributes are not supported"));
                }
                attribute = Some(name.to_owned());
                continue;
            }
            let step = match part.split_once('[') {
                Some((name, predicate)) => {
                    let (key, value) = predicate
                        .strip_suffix(']')
                        .and_then(|inner| inner.split_once('='))
                        .ok_or(format!("{text:?}: a filter is written name[child=value]"))?;
                    let key = qname(key, namespaces).map_err(|reason| format!("{text:?}: {reason}"))?;
                    let mut step = qname(name, namespaces).map_err(|reason| format!("{text:?}: {reason}"))?;
                    step.filter = Some(Box::new(Filter { key, value: value.to_owned() }));
                    step
                }
                None => qname(part, namespaces).map_err(|reason| format!("{text:?}: {reason}"))?,
            };
            steps.push(step);
        }
        Ok(PartyPath::Xml { text: text.to_owned(), steps, attribute })
    }
}

/// Resolves `prefix:local` or `local`.
pub fn qname(text: &str, namespaces: &[(String, String)]) -> Result<QName, String> {
    let valid = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
    match text.split_once(':') {
        Some((prefix, local)) => {
            let uri = namespaces
                .iter()
                .find(|(known, _)| known == prefix)
                .map(|(_, uri)| uri.clone())
                .ok_or(format!("the prefix {prefix:?} is not declared in the profile's namespaces"))?;
            if !valid(local) {
                return Err(format!("{local:?} is not an XML name"));
            }
            Ok(QName { namespace: Some(uri), local: local.to_owned(), filter: None })
        }
        // An unprefixed name is in the default namespace, when the profile declares one
        // (the prefix ""), as in XML itself.
        None if valid(text) => Ok(QName {
            namespace: namespaces.iter().find(|(prefix, _)| prefix.is_empty()).map(|(_, uri)| uri.clone()),
            local: text.to_owned(),
            filter: None,
        }),
        None => Err(format!("{text:?} is not an XML name")),
    }
}

/// A party document being read, and the place in it a rule starts from.
///
/// An XML scope may pin elements: when a document holds several records (the benefits of
/// a SIUSS flow), each record is read with the chain of elements that leads to it pinned,
/// so a path through a pinned element's name takes that element instead of the first of
/// its name. Mappings keep writing paths from the root.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'d> {
    Xml(&'d XmlDocument<'d>, ElementId, &'d [ElementId]),
    Json(&'d Value, &'d str),
    Record(&'d Record),
}

/// A value read from a party document, with enough to locate it.
pub struct Found<'d> {
    pub text: Cow<'d, str>,
    at: At<'d>,
}

enum At<'d> {
    Xml(&'d XmlDocument<'d>, ElementId, Option<&'d str>),
    /// The scope's base pointer and the path's pointer, joined only for a diagnostic: most
    /// values read are never located.
    Json(&'d str, &'d str),
    Field(&'d Record, usize),
}

impl Found<'_> {
    /// A diagnostic located at this value.
    pub fn diagnostic(&self, code: ErrorCode, message: impl Into<String>) -> Diagnostic {
        match &self.at {
            At::Xml(document, element, attribute) => {
                let mut path = document.path(*element);
                if let Some(attribute) = attribute {
                    path.push_str("/@");
                    path.push_str(attribute);
                }
                Diagnostic {
                    line: Some(document.line(*element)),
                    column: None,
                    ..Diagnostic::error(code, path, message)
                }
            }
            At::Json(base, pointer) => Diagnostic::error(code, format!("{base}{pointer}"), message),
            At::Field(record, index) => record.locate(*index, code, message),
        }
    }
}

/// The child of `current` named by `step`: the pinned one if a pinned element is such a
/// child, else the first.
fn step_into(document: &XmlDocument<'_>, current: ElementId, step: &QName, pins: &[ElementId]) -> Option<ElementId> {
    let pinned = pins.iter().copied().find(|&pin| {
        document.parent(pin) == Some(current)
            && document.is(pin, step.namespace.as_deref(), &step.local)
            && step.admits(document, pin)
    });
    pinned.or_else(|| {
        document.children(current, step.namespace.as_deref(), &step.local).find(|&child| step.admits(document, child))
    })
}

/// The child of `current` in a document being written that `step` names, made (with its
/// filter's key child) if there is none.
fn out_step(out: &mut XmlOut, current: ElementId, step: &QName) -> ElementId {
    let namespace = step.namespace.as_deref();
    match &step.filter {
        None => out.child(current, namespace, &step.local),
        Some(filter) => {
            let key = (filter.key.namespace.as_deref(), filter.key.local.as_str());
            match out.find_where(current, namespace, &step.local, key, &filter.value) {
                Some(found) => found,
                None => {
                    let made = out.append(current, namespace, &step.local);
                    let key_element = out.child(made, key.0, key.1);
                    out.set_text(key_element, filter.value.clone());
                    made
                }
            }
        }
    }
}

/// The child of `current` in a document being written that `step` names, if written.
fn out_find(out: &XmlOut, current: ElementId, step: &QName) -> Option<ElementId> {
    let namespace = step.namespace.as_deref();
    match &step.filter {
        None => out.find(current, namespace, &step.local),
        Some(filter) => out.find_where(
            current,
            namespace,
            &step.local,
            (filter.key.namespace.as_deref(), filter.key.local.as_str()),
            &filter.value,
        ),
    }
}

/// The chains of elements that lead from `root` to each element at `steps`, in document
/// order: one chain per record of a multi-record document.
pub fn record_chains(document: &XmlDocument<'_>, root: ElementId, steps: &[QName]) -> Vec<Vec<ElementId>> {
    let mut chains: Vec<Vec<ElementId>> = vec![Vec::new()];
    for step in steps {
        let mut next = Vec::new();
        for chain in chains {
            let parent = chain.last().copied().unwrap_or(root);
            for child in
                document.children(parent, step.namespace.as_deref(), &step.local).filter(|&c| step.admits(document, c))
            {
                let mut longer = chain.clone();
                longer.push(child);
                next.push(longer);
            }
        }
        chains = next;
    }
    chains.retain(|chain| !chain.is_empty());
    chains
}

impl<'d> Scope<'d> {
    /// The value at `path`, if present and not empty after trimming.
    pub fn read<'p>(&self, path: &'p PartyPath) -> Option<Found<'p>>
    where
        'd: 'p,
    {
        match (self, path) {
            (Scope::Xml(document, element, pins), PartyPath::Xml { steps, attribute, .. }) => {
                let target =
                    steps.iter().try_fold(*element, |current, step| step_into(document, current, step, pins))?;
                let text = match attribute {
                    Some(name) => document.attribute(target, None, name)?,
                    None => document.text(target),
                };
                Some(Found { text: Cow::Borrowed(text), at: At::Xml(document, target, attribute.as_deref()) })
            }
            (Scope::Json(value, base), PartyPath::Json(pointer)) => {
                let found = pointer.get(value)?;
                let text = match found {
                    Value::String(text) => Cow::Borrowed(text.as_str()),
                    Value::Null | Value::Array(_) | Value::Object(_) => return None,
                    other => Cow::Owned(other.to_string()),
                };
                Some(Found { text, at: At::Json(base, &pointer.text) })
            }
            (Scope::Record(record), PartyPath::Field { index, .. }) => {
                let text = record.value(*index)?;
                Some(Found { text: Cow::Borrowed(text), at: At::Field(record, *index) })
            }
            _ => None,
        }
    }

    /// The scopes of the repeated element or array items at `path`, each JSON item with
    /// its own base pointer for locations.
    pub fn each(&self, path: &PartyPath) -> Vec<ScopeItem<'d>> {
        match (self, path) {
            (Scope::Xml(document, element, pins), PartyPath::Xml { steps, .. }) => {
                let Some((last, parents)) = steps.split_last() else { return Vec::new() };
                let Some(parent) =
                    parents.iter().try_fold(*element, |current, step| step_into(document, current, step, pins))
                else {
                    return Vec::new();
                };
                document
                    .children(parent, last.namespace.as_deref(), &last.local)
                    .filter(|&child| last.admits(document, child))
                    .map(|child| ScopeItem::Xml(document, child, pins))
                    .collect()
            }
            (Scope::Json(value, base), PartyPath::Json(pointer)) => match pointer.get(value) {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| ScopeItem::Json(item, format!("{base}{}/{index}", pointer.text)))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// An owned form of a scope for array items, whose JSON base pointer is built per item.
pub enum ScopeItem<'d> {
    Xml(&'d XmlDocument<'d>, ElementId, &'d [ElementId]),
    Json(&'d Value, String),
}

impl<'d> ScopeItem<'d> {
    /// A diagnostic located at this item: its element path and line, or its pointer.
    pub fn diagnostic(&self, code: ErrorCode, message: impl Into<String>) -> Diagnostic {
        match self {
            ScopeItem::Xml(document, element, _) => Diagnostic {
                line: Some(document.line(*element)),
                ..Diagnostic::error(code, document.path(*element), message)
            },
            ScopeItem::Json(_, base) => Diagnostic::error(code, base.clone(), message),
        }
    }

    pub fn scope(&self) -> Scope<'_> {
        match self {
            ScopeItem::Xml(document, element, pins) => Scope::Xml(document, *element, pins),
            ScopeItem::Json(value, base) => Scope::Json(value, base.as_str()),
        }
    }
}

/// A party document being written.
pub enum PartyOut {
    Xml(XmlOut),
    Json(Value),
    Record(Vec<String>),
}

/// Where in a party document being written a rule starts from.
#[derive(Debug, Clone)]
pub enum OutScope {
    Xml(ElementId),
    Json(Pointer),
    Record,
}

impl PartyOut {
    /// Writes `text` at `path` from `scope`, creating what is missing. Returns false when
    /// the path doesn't fit the document (a mapping error caught by tests).
    pub fn write(&mut self, scope: &OutScope, path: &PartyPath, text: String) -> bool {
        match (self, scope, path) {
            (PartyOut::Xml(out), OutScope::Xml(element), PartyPath::Xml { steps, attribute, .. }) => {
                let target = steps.iter().fold(*element, |current, step| out_step(out, current, step));
                match attribute {
                    Some(name) => out.set_attribute(target, name, text),
                    None => out.set_text(target, text),
                }
                true
            }
            (PartyOut::Json(value), OutScope::Json(base), PartyPath::Json(pointer)) => {
                base.join(pointer).set(value, Value::String(text))
            }
            (PartyOut::Record(values), OutScope::Record, PartyPath::Field { index, .. }) => {
                match values.get_mut(*index) {
                    Some(slot) => {
                        *slot = text;
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Whether a non-empty value was written at `path` (from the document's start).
    pub fn has(&self, path: &PartyPath) -> bool {
        match (self, path) {
            (PartyOut::Xml(out), PartyPath::Xml { steps, attribute, .. }) => steps
                .iter()
                .try_fold(out.root(), |current, step| out_find(out, current, step))
                .is_some_and(|element| out.has_value(element, attribute.as_deref())),
            (PartyOut::Json(value), PartyPath::Json(pointer)) => {
                pointer.get(value).is_some_and(|found| !found.is_null() && found != &Value::String(String::new()))
            }
            (PartyOut::Record(values), PartyPath::Field { index, .. }) => {
                values.get(*index).is_some_and(|value| !value.is_empty())
            }
            _ => false,
        }
    }

    /// Writes a JSON value other than a string (numbers and booleans of JSON profiles).
    pub fn write_json(&mut self, scope: &OutScope, path: &PartyPath, value: Value) -> bool {
        match (self, scope, path) {
            (PartyOut::Json(target), OutScope::Json(base), PartyPath::Json(pointer)) => {
                base.join(pointer).set(target, value)
            }
            _ => false,
        }
    }

    /// Starts a new repeated element or array item at `path`.
    pub fn append(&mut self, scope: &OutScope, path: &PartyPath) -> Option<OutScope> {
        match (self, scope, path) {
            (PartyOut::Xml(out), OutScope::Xml(element), PartyPath::Xml { steps, .. }) => {
                let (last, parents) = steps.split_last()?;
                let parent = parents.iter().fold(*element, |current, step| out_step(out, current, step));
                Some(OutScope::Xml(out.append(parent, last.namespace.as_deref(), &last.local)))
            }
            (PartyOut::Json(target), OutScope::Json(base), PartyPath::Json(pointer)) => {
                let item = base.join(pointer).push_object(target)?;
                Pointer::parse(&item).ok().map(OutScope::Json)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_get_set_and_push() {
        let mut value = json!({});
        assert!(Pointer::parse("/data/worker/name").unwrap().set(&mut value, json!("Ana")));
        let items = Pointer::parse("/data/items").unwrap();
        assert_eq!(items.push_object(&mut value).as_deref(), Some("/data/items/0"));
        assert_eq!(items.push_object(&mut value).as_deref(), Some("/data/items/1"));
        assert!(Pointer::parse("/data/items/1/x").unwrap().set(&mut value, json!(1)));
        assert_eq!(value, json!({"data": {"worker": {"name": "Ana"}, "items": [{}, {"x": 1}]}}));
        assert!(!Pointer::parse("/data/worker/name/deeper").unwrap().set(&mut value, json!(2)));
        assert_eq!(Pointer::parse("/a~1b").unwrap().get(&json!({"a/b": 3})), Some(&json!(3)));
        assert!(Pointer::parse("data").is_err());
    }

    #[test]
    fn filtered_steps_pick_an_element_and_write_it_with_its_key() {
        use crate::formats::xml::{decode, XmlLimits};
        let path = PartyPath::xml("lingue/lingua[cod=ITA]/livello", &[]).unwrap();
        let text = "<sap><lingue><lingua><cod>ENG</cod><livello>B2</livello></lingua>\
                    <lingua><cod>ITA</cod><livello>A2</livello></lingua></lingue></sap>";
        let document = decode(text.as_bytes(), XmlLimits::default()).unwrap();
        let found = Scope::Xml(&document, document.root(), &[]).read(&path).unwrap();
        assert_eq!(found.text, "A2");
        assert!(Scope::Xml(&document, document.root(), &[])
            .read(&PartyPath::xml("lingue/lingua[cod=FRA]/livello", &[]).unwrap())
            .is_none());
        let mut out = PartyOut::Xml(XmlOut::new(None, "sap"));
        assert!(out.write(&OutScope::Xml(0), &path, "B1".into()));
        assert!(out.has(&path));
        let PartyOut::Xml(xml) = out else { unreachable!() };
        let written = String::from_utf8(xml.encode(&[]).unwrap()).unwrap();
        assert!(written.contains("<lingua>\n      <cod>ITA</cod>\n      <livello>B1</livello>"), "{written}");
        assert!(PartyPath::xml("a[b]", &[]).is_err());
    }

    #[test]
    fn xml_paths_resolve_prefixes() {
        let namespaces = vec![("co".to_owned(), "urn:co".to_owned())];
        let path = PartyPath::xml("co:Lavoratore/@codiceFiscale", &namespaces).unwrap();
        assert_eq!(
            path,
            PartyPath::Xml {
                text: "co:Lavoratore/@codiceFiscale".into(),
                steps: vec![QName { namespace: Some("urn:co".into()), local: "Lavoratore".into(), filter: None }],
                attribute: Some("codiceFiscale".into())
            }
        );
        assert!(PartyPath::xml("x:Lavoratore", &namespaces).is_err());
        assert!(PartyPath::xml("@a/b", &namespaces).is_err());
        assert!(PartyPath::xml("a b", &namespaces).is_err());
    }
}
