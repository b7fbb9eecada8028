//! Minimal, dependency-free edits of an ONNX model's protobuf bytes:
//! - [`strip_weight_inputs`] drops graph inputs that are not real inputs. Some exported models
//!   (SFace int8bq as shipped) declare stale weight names as graph inputs that no node reads, or
//!   weights that initializers provide; ONNX Runtime then demands them as feeds (and cannot
//!   constant-fold the initializers).
//! - [`free_shapes`] frees declared sizes, so a size-agnostic graph (YuNet) takes any input
//!   size.
//! - [`expand_prelu`] rewrites PRelu as operators ONNX Runtime's CPU provider runs faster, with
//!   the same values: its PRelu kernel broadcasts element by element (8.8 of SFace's 14.7 ms),
//!   and cannot stay in the blocked NCHWc layout the convolutions around it use.
//!
//! Only the fields needed are decoded (ModelProto.graph = 7; GraphProto.node = 1,
//! .initializer = 5, .input = 11; NodeProto.input = 1, .output = 2, .name = 3, .op_type = 4,
//! .attribute = 5, .domain = 7; TensorProto.dims = 1, .data_type = 2, .float_data = 4,
//! .name = 8, .raw_data = 9; ValueInfoProto.name = 1); every other byte is copied through
//! unchanged.

use std::collections::{HashMap, HashSet};

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
    /// The value of a varint field, or the bits of a fixed 32- or 64-bit one.
    scalar: Option<u64>,
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
        let mut scalar = None;
        let fixed = |pos: &mut usize, width: usize| -> Result<u64, EditError> {
            let bytes = buf
                .get(*pos..*pos + width)
                .ok_or(EditError("truncated field"))?;
            *pos += width;
            Ok(bytes.iter().rev().fold(0, |v, b| (v << 8) | u64::from(*b)))
        };
        match key & 7 {
            0 => scalar = Some(read_varint(buf, &mut pos)?),
            1 => scalar = Some(fixed(&mut pos, 8)?),
            5 => scalar = Some(fixed(&mut pos, 4)?),
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
            scalar,
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

/// A node of the default domain: op type, inputs, outputs, name and encoded attributes.
fn node(
    op: &str,
    name: &[u8],
    inputs: &[&[u8]],
    outputs: &[&[u8]],
    attributes: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = Vec::new();
    for i in inputs {
        write_len_delimited(1, i, &mut out);
    }
    for o in outputs {
        write_len_delimited(2, o, &mut out);
    }
    write_len_delimited(3, name, &mut out);
    write_len_delimited(4, op.as_bytes(), &mut out);
    for a in attributes {
        write_len_delimited(5, a, &mut out);
    }
    out
}

pub(crate) fn varint_field(number: u64, value: u64, out: &mut Vec<u8>) {
    write_varint(number << 3, out);
    write_varint(value, out);
}

/// An AttributeProto holding one integer (name = 1, i = 3, type = 20: INT is 2).
fn int_attribute(name: &str, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_len_delimited(1, name.as_bytes(), &mut out);
    varint_field(3, value, &mut out);
    varint_field(20, 2, &mut out);
    out
}

/// A float TensorProto (data_type FLOAT is 1) with its values as little-endian raw_data.
pub(crate) fn float_tensor(name: &[u8], dims: &[u64], values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in dims {
        varint_field(1, *d, &mut out);
    }
    varint_field(2, 1, &mut out);
    write_len_delimited(8, name, &mut out);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_len_delimited(9, &raw, &mut out);
    out
}

/// A float tensor's dims and values.
type FloatTensor = (Vec<u64>, Vec<f32>);

/// The dims and values of a float TensorProto stored in the model (raw_data, or float_data
/// packed or not); `None` for other element types and external data.
fn float_values(tensor: &[u8]) -> Result<Option<FloatTensor>, EditError> {
    let (mut dims, mut values, mut is_float) = (Vec::new(), Vec::new(), false);
    let mut bytes: Vec<&[u8]> = Vec::new();
    for f in fields(tensor)? {
        match (f.number, f.scalar, f.payload) {
            (1, Some(d), _) => dims.push(d),
            (1, _, Some(packed)) => {
                let mut pos = 0;
                while pos < packed.len() {
                    dims.push(read_varint(packed, &mut pos)?);
                }
            }
            (2, Some(t), _) => is_float = t == 1,
            (4, Some(bits), _) => values.push(f32::from_bits(bits as u32)),
            (4 | 9, _, Some(data)) => bytes.push(data),
            (14, Some(location), _) if location != 0 => return Ok(None),
            _ => {}
        }
    }
    if !is_float || bytes.iter().any(|b| b.len() % 4 != 0) {
        return Ok(None);
    }
    let le = |c: &[u8]| f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    values.extend(bytes.iter().flat_map(|b| b.chunks_exact(4).map(le)));
    Ok(Some((dims, values)))
}

/// PRelu as nodes ONNX Runtime's CPU provider runs well, appended to `out` (graph fields), with
/// any initializers they need appended to `initializers`.
fn prelu_replacement(
    n: &[u8],
    [x, slope, y]: [&[u8]; 3],
    slopes: &HashMap<&[u8], FloatTensor>,
    out: &mut Vec<u8>,
    initializers: &mut Vec<u8>,
) -> Result<(), EditError> {
    let name = string_fields(n, 3)?.first().copied().unwrap_or(y);
    let tmp = |suffix: &str| [y, b"/po_prelu_", suffix.as_bytes()].concat();
    let named = |suffix: &str| [name, b"/po_prelu_", suffix.as_bytes()].concat();
    let mut emit = |node_bytes: Vec<u8>| write_len_delimited(1, &node_bytes, out);
    match slopes.get(slope) {
        // A [C,1,1] slope is per channel of an NCHW tensor. PRelu(x) = x + (1 - slope) *
        // Relu(-x), where both products are depthwise 1x1 convolutions: ONNX Runtime keeps
        // them in its blocked NCHWc layout, fuses the Relu and the Add into them, and needs no
        // layout reorders around them (SFace: 11.0 -> 7.9 ms a face on one thread).
        Some((dims, s)) if dims.len() == 3 && dims[1..] == [1, 1] && s.len() as u64 == dims[0] => {
            let c = dims[0];
            let (minus_one, one_minus_slope) = (tmp("minus_one"), tmp("one_minus_slope"));
            let depthwise = [int_attribute("group", c)];
            let minus_ones = vec![-1.0f32; s.len()];
            let gain: Vec<f32> = s.iter().map(|v| 1.0 - v).collect();
            for (t, values) in [(&minus_one, &minus_ones), (&one_minus_slope, &gain)] {
                write_len_delimited(5, &float_tensor(t, &[c, 1, 1, 1], values), initializers);
            }
            let (negated, negative_part, scaled) =
                (tmp("negated"), tmp("negative_part"), tmp("scaled"));
            emit(node(
                "Conv",
                &named("negate"),
                &[x, &minus_one],
                &[&negated],
                &depthwise,
            ));
            emit(node(
                "Relu",
                &named("relu"),
                &[&negated],
                &[&negative_part],
                &[],
            ));
            emit(node(
                "Conv",
                &named("scale"),
                &[&negative_part, &one_minus_slope],
                &[&scaled],
                &depthwise,
            ));
            emit(node("Add", &named("add"), &[x, &scaled], &[y], &[]));
        }
        // Any other slope: Relu(x) + slope * (x - Relu(x)), exact since x - Relu(x) is 0 or x.
        _ => {
            let (pos, neg, scaled) = (tmp("pos"), tmp("neg"), tmp("scaled"));
            emit(node("Relu", &named("relu"), &[x], &[&pos], &[]));
            emit(node("Sub", &named("sub"), &[x, &pos], &[&neg], &[]));
            emit(node("Mul", &named("mul"), &[&neg, slope], &[&scaled], &[]));
            emit(node("Add", &named("add"), &[&pos, &scaled], &[y], &[]));
        }
    }
    Ok(())
}

fn expand_prelu_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), EditError> {
    let fs = fields(graph)?;
    // The slopes' values, read from their initializers (only theirs: the other weights may be
    // hundreds of MB).
    let mut slope_names: HashSet<&[u8]> = HashSet::new();
    for n in fs
        .iter()
        .filter(|f| f.number == 1)
        .filter_map(|f| f.payload)
    {
        if string_fields(n, 4)? == [b"PRelu"] {
            slope_names.extend(string_fields(n, 1)?.get(1));
        }
    }
    let mut slopes = HashMap::new();
    for tensor in fs
        .iter()
        .filter(|f| f.number == 5)
        .filter_map(|f| f.payload)
    {
        match string_fields(tensor, 8)?.first() {
            Some(name) if slope_names.contains(name) => {
                if let Some(values) = float_values(tensor)? {
                    slopes.insert(*name, values);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut initializers = Vec::new();
    let mut expanded = 0;
    for f in &fs {
        let Some(n) = f.payload.filter(|_| f.number == 1) else {
            out.extend_from_slice(f.raw);
            continue;
        };
        let op = string_fields(n, 4)?;
        let domain = string_fields(n, 7)?;
        let default_domain = domain.iter().all(|d| d.is_empty() || *d == b"ai.onnx");
        let (inputs, outputs) = (string_fields(n, 1)?, string_fields(n, 2)?);
        match (inputs.as_slice(), outputs.as_slice()) {
            ([x, slope], [y]) if op == [b"PRelu"] && default_domain => {
                prelu_replacement(n, [x, slope, y], &slopes, &mut out, &mut initializers)?;
                expanded += 1;
            }
            _ => out.extend_from_slice(f.raw),
        }
    }
    // Repeated fields may come in any order: the new weights follow the graph's other fields.
    out.extend_from_slice(&initializers);
    Ok((out, expanded))
}

/// Rewrites every PRelu node of the (flat) graph in its place as faster nodes with the same
/// values (SFace embeddings within 1e-6), and says how many. GPU providers have a fused PRelu
/// kernel: this is for the CPU.
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

/// A ValueInfoProto with its tensor shape (ValueInfoProto.type = 2 -> TypeProto.tensor_type
/// = 1 -> Tensor.shape = 2) passed through `edit` (`None` drops it); element type and name
/// kept.
fn edit_shape(
    value_info: &[u8],
    edit: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, EditError>,
) -> Result<Option<Vec<u8>>, EditError> {
    let (out, _) = rewrite_fields(value_info, 2, |ty| {
        let (ty, _) = rewrite_fields(ty, 1, |tensor| {
            Ok(Some(rewrite_fields(tensor, 2, &edit)?.0))
        })?;
        Ok(Some(ty))
    })?;
    Ok(Some(out))
}

/// A TensorShapeProto whose dims picked by `free` (by axis) are named instead of fixed
/// (TensorShapeProto.dim = 1 -> Dimension.dim_param = 2).
fn name_dims(shape: &[u8], free: impl Fn(usize) -> bool) -> Result<Option<Vec<u8>>, EditError> {
    let mut out = Vec::with_capacity(shape.len());
    let mut axis = 0;
    for f in fields(shape)? {
        if f.number == 1 && free(axis) {
            let mut dim = Vec::new();
            write_len_delimited(2, format!("po_axis_{axis}").as_bytes(), &mut dim);
            write_len_delimited(1, &dim, &mut out);
        } else {
            out.extend_from_slice(f.raw);
        }
        axis += usize::from(f.number == 1);
    }
    Ok(Some(out))
}

fn free_shapes_graph(
    graph: &[u8],
    free: impl Fn(usize) -> bool + Copy,
) -> Result<(Vec<u8>, usize), EditError> {
    // value_info (13): inferred intermediate shapes, dropped; outputs (12) lose their shapes;
    // inputs (11) keep their rank and channels, which ONNX Runtime's shape inference needs to
    // keep every layer (MaxPool included) in its blocked NCHWc layout.
    let (graph, dropped) = rewrite_fields(graph, 13, |_| Ok(None))?;
    let (graph, inputs) = rewrite_fields(&graph, 11, |v| edit_shape(v, |s| name_dims(s, free)))?;
    let (graph, outputs) = rewrite_fields(&graph, 12, |v| edit_shape(v, |_| Ok(None)))?;
    Ok((graph, dropped + inputs + outputs))
}

/// Frees the sizes the model declares: its inputs' dims after batch and channels become named
/// (any size), its outputs' and intermediate values' shapes are dropped, so that ONNX Runtime
/// accepts any input size the graph's operators allow (it re-infers shapes per run). Says how
/// many declarations were edited. Keeping the inputs' rank and channels lets ONNX Runtime
/// infer every layer's channels: YuNet 640x448 4.9 -> 4.0 ms on one thread, same outputs.
/// `batch` frees the batch dim too, for models whose graph does not depend on it (YuNet,
/// SFace: see [`Dims`]).
pub fn free_shapes(model: &[u8], dims: Dims) -> Result<(Vec<u8>, usize), EditError> {
    edit_graph(model, |g| {
        free_shapes_graph(g, move |axis| match dims {
            Dims::Spatial => axis >= 2,
            Dims::Batch => axis == 0,
            Dims::BatchAndSpatial => axis != 1,
        })
    })
}

/// Which input dims [`free_shapes`] frees (channels, axis 1, always stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dims {
    /// Height and width: any canvas size.
    Spatial,
    /// The batch: several images in one run. Only for graphs with no constant that fixes it:
    /// YuNet's heads reshape to `[1, -1, n]`, which lays a batch out image after image along
    /// the middle axis; SFace flattens with `Flatten` (tested against single runs).
    Batch,
    BatchAndSpatial,
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
    fn a_per_channel_prelu_becomes_depthwise_convolutions_with_one_minus_slope() {
        let prelu = ld(
            1,
            &[ld(1, b"x"), ld(1, b"a"), ld(2, b"y"), ld(4, b"PRelu")].concat(),
        );
        // The slope as exporters write it: packed dims and packed float_data.
        let mut dims = Vec::new();
        for d in [2u64, 1, 1] {
            write_varint(d, &mut dims);
        }
        let floats: Vec<u8> = [0.25f32, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut slope = ld(1, &dims);
        varint_field(2, 1, &mut slope);
        slope.extend(ld(4, &floats));
        slope.extend(ld(8, b"a"));
        let model = ld(7, &[prelu, ld(5, &slope)].concat());

        let (edited, n) = expand_prelu(&model).unwrap();
        assert_eq!(n, 1);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let t = |k: &str| format!("y/po_prelu_{k}");
        assert_eq!(
            graph_nodes(&edited),
            vec![
                (
                    "Conv".into(),
                    s(&["x", &t("minus_one")]),
                    s(&[&t("negated")])
                ),
                (
                    "Relu".into(),
                    s(&[&t("negated")]),
                    s(&[&t("negative_part")])
                ),
                (
                    "Conv".into(),
                    s(&[&t("negative_part"), &t("one_minus_slope")]),
                    s(&[&t("scaled")])
                ),
                ("Add".into(), s(&["x", &t("scaled")]), s(&["y"])),
            ]
        );
        let graph = fields(&edited).unwrap()[0].payload.unwrap().to_vec();
        let graph_fields = fields(&graph).unwrap();
        let conv = graph_fields.iter().find(|f| f.number == 1).unwrap();
        assert_eq!(
            string_fields(conv.payload.unwrap(), 5).unwrap(),
            vec![int_attribute("group", 2).as_slice()],
            "one group per channel"
        );
        let mut tensors = HashMap::new();
        for f in graph_fields.iter().filter(|f| f.number == 5) {
            let t = f.payload.unwrap();
            let name = String::from_utf8(string_fields(t, 8).unwrap()[0].to_vec()).unwrap();
            tensors.insert(name, float_values(t).unwrap().unwrap());
        }
        assert_eq!(tensors["a"], (vec![2, 1, 1], vec![0.25, -0.5]), "kept");
        assert_eq!(
            tensors[&t("minus_one")],
            (vec![2, 1, 1, 1], vec![-1.0, -1.0])
        );
        assert_eq!(
            tensors[&t("one_minus_slope")],
            (vec![2, 1, 1, 1], vec![0.75, 1.5])
        );
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

    /// A TensorShapeProto of fixed sizes and then named dims.
    fn shape(fixed: &[u64], named: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for d in fixed {
            let mut dim = Vec::new();
            varint_field(1, *d, &mut dim);
            write_len_delimited(1, &dim, &mut out);
        }
        for n in named {
            write_len_delimited(1, &ld(2, n.as_bytes()), &mut out);
        }
        out
    }

    /// A float ValueInfoProto with fixed dims.
    fn typed_value_info(name: &str, dims: &[u64]) -> Vec<u8> {
        let mut tensor = Vec::new();
        varint_field(1, 1, &mut tensor);
        write_len_delimited(2, &shape(dims, &[]), &mut tensor);
        [ld(1, name.as_bytes()), ld(2, &ld(1, &tensor))].concat()
    }

    #[test]
    fn freed_shapes_keep_the_inputs_rank_batch_and_channels_only() {
        let graph = [
            ld(11, &typed_value_info("input", &[1, 3, 640, 640])),
            ld(12, &typed_value_info("cls_8", &[1, 6400, 1])),
            ld(13, &typed_value_info("hidden", &[1, 16, 320, 320])),
        ]
        .concat();
        let (edited, n) = free_shapes(&ld(7, &graph), Dims::Spatial).unwrap();
        assert_eq!(n, 3);
        let graph = fields(&edited).unwrap()[0].payload.unwrap().to_vec();
        let declared: Vec<(u64, Option<Vec<u8>>)> = fields(&graph)
            .unwrap()
            .iter()
            .map(|f| {
                let ty = string_fields(f.payload.unwrap(), 2).unwrap()[0];
                let tensor = string_fields(ty, 1).unwrap()[0];
                let shape = string_fields(tensor, 2)
                    .unwrap()
                    .first()
                    .map(|s| s.to_vec());
                (f.number, shape)
            })
            .collect();
        // The intermediate value is gone; the output has no shape; the input is [1, 3, h, w].
        assert_eq!(
            declared,
            vec![
                (11, Some(shape(&[1, 3], &["po_axis_2", "po_axis_3"]))),
                (12, None),
            ]
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let model = ld(7, &value_info("data"));
        for cut in 1..model.len() {
            assert!(strip_weight_inputs(&model[..cut]).is_err(), "cut at {cut}");
        }
    }
}
