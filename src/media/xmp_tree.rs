//! An XMP packet's bytes -> a small element tree with every name resolved to its namespace URI,
//! under limits that hostile input cannot get past: no DOCTYPE (so no entity can be defined,
//! let alone expanded), no reference to an entity other than XML's five and character
//! references, at most [`MAX_DEPTH`] levels and [`MAX_ELEMENTS`] elements. [`crate::media::xmp`]
//! reads the RDF in it; the tree is only as large as the (size-capped) packet.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Deeper than any XMP a photo tool writes (regions are about 10 levels down).
pub const MAX_DEPTH: usize = 64;
/// A sidecar with a thousand faces has about 10 000 elements.
pub const MAX_ELEMENTS: usize = 100_000;

pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// Why a photo's XMP was not read (here, below [`crate::media::xmp`], because the tree raises
/// most of them).
#[derive(Debug, thiserror::Error)]
pub enum XmpError {
    #[error("XMP of {bytes} bytes is over the {limit}-byte limit")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("cannot read the XMP sidecar")]
    Io(#[from] std::io::Error),
    #[error("XMP has a DOCTYPE (DTDs and their entities are refused)")]
    Doctype,
    #[error("XMP refers to the entity `&{0};` (only XML's predefined ones are allowed)")]
    Entity(String),
    #[error("XMP nests elements deeper than {0} levels")]
    TooDeep(usize),
    #[error("XMP has more than {0} elements")]
    TooManyElements(usize),
    #[error("XMP ends before its elements are closed (truncated?)")]
    Truncated,
    #[error("XMP is not well-formed XML (near byte {position})")]
    Malformed {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("XMP has no rdf:RDF element")]
    NoRdf,
}

#[derive(Debug, Default)]
pub struct Element {
    /// Namespace URI; empty when the name has no prefix bound.
    pub ns: String,
    pub local: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// The element's own text (character data directly inside it), unescaped.
    pub text: String,
}

#[derive(Debug)]
pub struct Attr {
    pub ns: String,
    pub local: String,
    pub value: String,
}

impl Element {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    pub fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Every element below this one (not itself), depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }
}

fn ns_of(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => ns.into_inner().to_owned(),
        _ => String::new(),
    }
}

/// The document as a tree under an unnamed root element.
pub fn parse(bytes: &[u8]) -> Result<Element, XmpError> {
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut elements = 0usize;
    let malformed = |reader: &NsReader<&[u8]>, source| XmpError::Malformed {
        position: reader.error_position(),
        source,
    };
    loop {
        let event = match reader.read_resolved_event() {
            Ok((_, event)) => event,
            Err(e) => return Err(malformed(&reader, e)),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmpError::TooManyElements(MAX_ELEMENTS));
                }
                if stack.len() > MAX_DEPTH {
                    return Err(XmpError::TooDeep(MAX_DEPTH));
                }
                let (ns, local) = reader.resolver().resolve_element(e.name());
                let mut element = Element {
                    ns: ns_of(ns),
                    local: local.into_inner().to_owned(),
                    ..Element::default()
                };
                for attr in e.attributes() {
                    let attr = attr.map_err(|err| malformed(&reader, err.into()))?;
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| entity_error(&reader, err))?
                        .into_owned();
                    let (ns, local) = reader.resolver().resolve_attribute(attr.key);
                    element.attrs.push(Attr {
                        ns: ns_of(ns),
                        local: local.into_inner().to_owned(),
                        value,
                    });
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Event::End(_) => {
                let done = stack.pop().filter(|_| !stack.is_empty());
                match (done, stack.last_mut()) {
                    (Some(done), Some(parent)) => parent.children.push(done),
                    _ => return Err(XmpError::Truncated),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.into_inner()),
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_string(),
                            None => return Err(XmpError::Entity(name.into_owned())),
                        }
                    }
                    Err(e) => return Err(malformed(&reader, e)),
                };
                push_text(&mut stack, &ch);
            }
            Event::DocType(_) => return Err(XmpError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if stack.len() != 1 {
        return Err(XmpError::Truncated);
    }
    Ok(stack.pop().unwrap_or_default())
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(current) = stack.last_mut() {
        current.text.push_str(text);
    }
}

fn entity_error(reader: &NsReader<&[u8]>, err: quick_xml::Error) -> XmpError {
    match err {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            XmpError::Entity(name)
        }
        other => XmpError::Malformed {
            position: reader.error_position(),
            source: other,
        },
    }
}
