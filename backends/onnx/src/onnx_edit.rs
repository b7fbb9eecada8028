//! Minimal, dependency-free edits of an ONNX model's protobuf bytes:
//! - [`strip_weight_inputs`] drops graph inputs that are not real inputs. Some exported models
//!   (SFace int8bq as shipped) declare stale weight names as graph inputs that no node reads, or
//!   weights that initializers provide; ONNX Runtime then demands them as feeds (and cannot
//!   constant-fold the initializers).
//! - [`free_shapes`] drops declared shapes, so a size-agnostic graph (YuNet) takes any input
//!   size.
//! - [`expand_prelu`] rewrites PRelu as Relu, Sub, Mul, Add, which give the same values: ONNX
//!   Runtime's CPU PRelu kernel broadcasts element by element and took 8.8 of SFace's 14.7 ms.
//!
//! Only the fields needed are decoded (ModelProto.graph = 7; GraphProto.node = 1,
//! .initializer = 5, .input = 11; NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4,
//! .domain = 7; TensorProto.name = 8; ValueInfoProto.name = 1); every other byte is copied
//! through unchanged.

use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
#[error("not a valid ONNX protobuf: {0}")]
pub struct EditError(&'static str);

/// One top-level field of a protobuf message: its number, wire type and raw extent.
struct Field<'a> {
    number: u64,
    /// The whole field as encoded (key included).
    raw: &'a [u8],
    /// The payload of a length-delimited field.
    payload: Option<&'a [u8]>,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, EditError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or(EditError("truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(EditError("varint too long"))
}

pub(crate) fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, EditError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = read_varint(buf, &mut pos)?;
        let mut payload = None;
        match key & 7 {
            0 => {
                read_varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?)
                    .map_err(|_| EditError("length overflow"))?;
                let end = pos.checked_add(len).ok_or(EditError("length overflow"))?;
                payload = Some(buf.get(pos..end).ok_or(EditError("truncated field"))?);
                pos = end;
            }
            _ => return Err(EditError("unsupported wire type")),
        }
        let raw = buf.get(start..pos).ok_or(EditError("truncated field"))?;
        out.push(Field {
            number: key >> 3,
            raw,
            payload,
        });
    }
    Ok(out)
}

fn string_fields(msg: &[u8], number: u64) -> Result<Vec<&[u8]>, EditError> {
    Ok(fields(msg)?
        .into_iter()
        .filter(|f| f.number == number)
        .filter_map(|f| f.payload)
        .collect())
}

fn strip_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    let fs = fields(graph)?;
    let mut produced: HashSet<&[u8]> = HashSet::new();
    let mut consumed: HashSet<&[u8]> = HashSet::new();
    for f in &fs {
        match (f.number, f.payload) {
            (1, Some(node)) => {
                consumed.extend(string_fields(node, 1)?);
                produced.extend(string_fields(node, 2)?);
            }
            (5, Some(tensor)) => produced.extend(string_fields(tensor, 8)?),
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut removed = 0;
    for f in &fs {
        if let (11, Some(value_info)) = (f.number, f.payload) {
            let name = string_fields(value_info, 1)?.first().copied();
            if name.is_some_and(|n| produced.contains(n) || !consumed.contains(n)) {
                removed += 1;
                continue;
            }
        }
        out.extend_from_slice(f.raw);
    }
    Ok((out, removed))
}

/// Applies `edit` to the model's graph, copying every other field through.
fn edit_graph(
    model: &[u8],
    edit: impl Fn(&[u8]) -> Result<(Vec<u8>, usize), EditError>,
) -> Result<(Vec<u8>, usize), EditError> {
    let mut out = Vec::with_capacity(model.len());
    let mut changed = 0;
    for f in fields(model)? {
        match (f.number, f.payload) {
            (7, Some(graph)) => {
                let (new_graph, n) = edit(graph)?;
                changed += n;
                write_len_delimited(7, &new_graph, &mut out);
            }
            _ => out.extend_from_slice(f.raw),
        }
    }
    Ok((out, changed))
}

pub(crate) fn write_len_delimited(number: u64, payload: &[u8], out: &mut Vec<u8>) {
    write_varint((number << 3) | 2, out);
    write_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Returns the model without the graph inputs that a node or an initializer produces or that no
/// node reads, and how many were removed. Models with subgraphs (If, Loop) are not edited here:
/// their inner nodes are not scanned, so call this only on flat graphs.
pub fn strip_weight_inputs(model: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    edit_graph(model, strip_graph)
}

/// A node of the default domain: op type, inputs, outputs and name.
fn node(op: &str, name: &[u8], inputs: &[&[u8]], outputs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in inputs {
        write_len_delimited(1, i, &mut out);
    }
    for o in outputs {
        write_len_delimited(2, o, &mut out);
    }
    write_len_delimited(3, name, &mut out);
    write_len_delimited(4, op.as_bytes(), &mut out);
    out
}

fn expand_prelu_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    let mut out = Vec::with_capacity(graph.len());
    let mut expanded = 0;
    for f in fields(graph)? {
        let Some(n) = f.payload.filter(|_| f.number == 1) else {
            out.extend_from_slice(f.raw);
            continue;
        };
        let op = string_fields(n, 4)?;
        let domain = string_fields(n, 7)?;
        let default_domain = domain.iter().all(|d| d.is_empty() || *d == b"ai.onnx");
        let (inputs, outputs) = (string_fields(n, 1)?, string_fields(n, 2)?);
        let ([x, slope], [y]) = (inputs.as_slice(), outputs.as_slice()) else {
            out.extend_from_slice(f.raw);
            continue;
        };
        if op != [b"PRelu"] || !default_domain {
            out.extend_from_slice(f.raw);
            continue;
        }
        // PRelu(x) = Relu(x) + slope * (x - Relu(x)): exact, since x - Relu(x) is 0 or x.
        let name = string_fields(n, 3)?.first().copied().unwrap_or(y);
        let tmp = |suffix: &str| [*y, b"/po_prelu_", suffix.as_bytes()].concat();
        let (pos, neg, scaled) = (tmp("pos"), tmp("neg"), tmp("scaled"));
        let named = |suffix: &str| [name, b"/po_prelu_", suffix.as_bytes()].concat();
        for node_bytes in [
            node("Relu", &named("relu"), &[x], &[&pos]),
            node("Sub", &named("sub"), &[x, &pos], &[&neg]),
            node("Mul", &named("mul"), &[&neg, slope], &[&scaled]),
            node("Add", &named("add"), &[&pos, &scaled], &[y]),
        ] {
            write_len_delimited(1, &node_bytes, &mut out);
        }
        expanded += 1;
    }
    Ok((out, expanded))
}

/// Rewrites every PRelu node of the (flat) graph as Relu, Sub, Mul, Add in its place, and says
/// how many. The values are the same; ONNX Runtime's CPU kernels for these are vectorised where
/// its PRelu is not (SFace: 14.7 -> 8.1 ms a face on 2 threads, embeddings bit-identical).
pub fn expand_prelu(model: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    edit_graph(model, expand_prelu_graph)
}

/// Copies `msg`, passing each length-delimited field numbered `number` through `edit`
/// (`None` drops it).
fn rewrite_fields(
    msg: &[u8],
    number: u64,
    edit: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, EditError>,
) -> Result<(Vec<u8>, usize), EditError> {
    let mut out = Vec::with_capacity(msg.len());
    let mut changed = 0;
    for f in fields(msg)? {
        match (f.number == number, f.payload) {
            (true, Some(payload)) => {
                changed += 1;
                if let Some(new) = edit(payload)? {
                    write_len_delimited(number, &new, &mut out);
                }
            }
            _ => out.extend_from_slice(f.raw),
        }
    }
    Ok((out, changed))
}

/// A ValueInfoProto without its tensor shape (ValueInfoProto.type = 2 -> TypeProto.tensor_type
/// = 1 -> Tensor.shape = 2), element type and name kept.
fn drop_shape(value_info: &[u8]) -> Result<Option<Vec<u8>>, EditError> {
    let (out, _) = rewrite_fields(value_info, 2, |ty| {
        let (ty, _) = rewrite_fields(ty, 1, |tensor| {
            Ok(Some(rewrite_fields(tensor, 2, |_| Ok(None))?.0))
        })?;
        Ok(Some(ty))
    })?;
    Ok(Some(out))
}

fn free_shapes_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    // value_info (13): inferred intermediate shapes, dropped; inputs (11) and outputs (12)
    // keep their names and element types.
    let (graph, dropped) = rewrite_fields(graph, 13, |_| Ok(None))?;
    let (graph, inputs) = rewrite_fields(&graph, 11, drop_shape)?;
    let (graph, outputs) = rewrite_fields(&graph, 12, drop_shape)?;
    Ok((graph, dropped + inputs + outputs))
}

/// Removes the shapes the model declares for its inputs, outputs and intermediate values, so
/// that ONNX Runtime accepts any input size the graph's operators allow (it re-infers shapes
/// per run). Says how many declarations were edited.
pub fn free_shapes(model: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    edit_graph(model, free_shapes_graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_len_delimited(number, payload, &mut out);
        out
    }

    /// (op type, inputs, outputs) of each node of the model's graph, in order.
    fn graph_nodes(model: &[u8]) -> Vec<(String, Vec<String>, Vec<String>)> {
        let graph = fields(model).unwrap()[0].payload.unwrap().to_vec();
        let text = |v: Vec<&[u8]>| {
            v.iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        fields(&graph)
            .unwrap()
            .into_iter()
            .filter(|f| f.number == 1)
            .map(|f| {
                let n = f.payload.unwrap();
                (
                    text(string_fields(n, 4).unwrap()).concat(),
                    text(string_fields(n, 1).unwrap()),
                    text(string_fields(n, 2).unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn prelu_becomes_relu_sub_mul_add_in_place() {
        let prelu = ld(
            1,
            &[ld(1, b"x"), ld(1, b"a"), ld(2, b"y"), ld(4, b"PRelu")].concat(),
        );
        let conv = ld(1, &[ld(1, b"y"), ld(2, b"z"), ld(4, b"Conv")].concat());
        let model = ld(7, &[prelu, conv, value_info("x")].concat());

        let (edited, n) = expand_prelu(&model).unwrap();
        assert_eq!(n, 1);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (pos, neg, scaled) = ("y/po_prelu_pos", "y/po_prelu_neg", "y/po_prelu_scaled");
        assert_eq!(
            graph_nodes(&edited),
            vec![
                ("Relu".into(), s(&["x"]), s(&[pos])),
                ("Sub".into(), s(&["x", pos]), s(&[neg])),
                ("Mul".into(), s(&[neg, "a"]), s(&[scaled])),
                ("Add".into(), s(&[pos, scaled]), s(&["y"])),
                ("Conv".into(), s(&["y"]), s(&["z"])),
            ]
        );
        // Nothing to expand: the bytes come back unchanged.
        let (again, n) = expand_prelu(&ld(7, &value_info("x"))).unwrap();
        assert_eq!((again, n), (ld(7, &value_info("x")), 0));
    }

    #[test]
    fn prelu_of_another_domain_is_left_alone() {
        let custom = ld(
            1,
            &[
                ld(1, b"x"),
                ld(1, b"a"),
                ld(2, b"y"),
                ld(4, b"PRelu"),
                ld(7, b"com.example"),
            ]
            .concat(),
        );
        let model = ld(7, &custom);
        assert_eq!(expand_prelu(&model).unwrap(), (model.clone(), 0));
    }

    fn value_info(name: &str) -> Vec<u8> {
        ld(11, &ld(1, name.as_bytes()))
    }

    #[test]
    fn removes_produced_initialised_and_unused_inputs_only() {
        let node = ld(
            1,
            &[ld(1, b"data"), ld(1, b"w_init"), ld(2, b"w_from_node")].concat(),
        );
        let init = ld(5, &ld(8, b"w_init"));
        let graph = [
            node,
            init,
            value_info("data"),
            value_info("w_from_node"),
            value_info("w_init"),
            value_info("stale_unused"),
        ]
        .concat();
        // ir_version (varint field 1) before the graph must survive untouched.
        let model = [vec![0x08, 0x07], ld(7, &graph)].concat();

        let (edited, removed) = strip_weight_inputs(&model).unwrap();
        assert_eq!(removed, 3);
        assert_eq!(&edited[..2], &[0x08, 0x07]);
        let graph_out = fields(&edited).unwrap()[1].payload.unwrap().to_vec();
        let inputs: Vec<Vec<u8>> = fields(&graph_out)
            .unwrap()
            .into_iter()
            .filter(|f| f.number == 11)
            .map(|f| string_fields(f.payload.unwrap(), 1).unwrap()[0].to_vec())
            .collect();
        assert_eq!(inputs, vec![b"data".to_vec()]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let model = ld(7, &value_info("data"));
        for cut in 1..model.len() {
            assert!(strip_weight_inputs(&model[..cut]).is_err(), "cut at {cut}");
        }
    }
}
