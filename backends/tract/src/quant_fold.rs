//! Folds `DequantizeLinear` nodes on constant weights into fp32 initializers, in an ONNX model
//! held in memory. tract does not run opset-21 block quantisation (`block_size` > 0), which SFace
//! int8bq uses for every weight; ONNX Runtime folds the same nodes at load
//! (`session.disable_quant_qdq`), so after this edit both runtimes compute on the same fp32
//! weights.
//!
//! Handles per-tensor, per-axis and blocked scales, int8 and uint8 weights, optional zero points,
//! with data in `raw_data` or the typed fields. A node with a non-constant input is left alone.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{tensor_proto::DataType, GraphProto, ModelProto, NodeProto, TensorProto};

#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error("the model has no graph")]
    NoGraph,
    #[error("DequantizeLinear `{node}`: {reason}")]
    Node { node: String, reason: String },
}

/// Replaces every `DequantizeLinear` whose inputs are all initializers by an fp32 initializer
/// named after its output, drops the quantised initializers nothing else reads, and returns how
/// many nodes were folded.
pub fn fold_dequantize_linear(model: &mut ModelProto) -> Result<usize, FoldError> {
    let graph = model.graph.as_mut().ok_or(FoldError::NoGraph)?;
    let folded = {
        let inits: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut folded: Vec<(usize, TensorProto)> = Vec::new();
        for (i, node) in graph.node.iter().enumerate() {
            if !is_dequantize(node) {
                continue;
            }
            let inputs: Option<Vec<&TensorProto>> = node
                .input
                .iter()
                .filter(|name| !name.is_empty())
                .map(|name| inits.get(name.as_str()).copied())
                .collect();
            if let Some(inputs) = inputs {
                folded.push((i, dequantize(node, &inputs)?));
            }
        }
        folded
    };
    let count = folded.len();
    let folded_nodes: HashSet<usize> = folded.iter().map(|(i, _)| *i).collect();
    let mut index = 0;
    graph.node.retain(|_| {
        index += 1;
        !folded_nodes.contains(&(index - 1))
    });
    graph
        .initializer
        .extend(folded.into_iter().map(|(_, tensor)| tensor));
    drop_unread_initializers(graph);
    Ok(count)
}

fn is_dequantize(node: &NodeProto) -> bool {
    node.op_type == "DequantizeLinear" && (node.domain.is_empty() || node.domain == "ai.onnx")
}

/// Removes initializers that no node reads and that are not graph outputs.
fn drop_unread_initializers(graph: &mut GraphProto) {
    let read: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(graph.output.iter().map(|o| o.name.clone()))
        .collect();
    graph.initializer.retain(|t| read.contains(&t.name));
}

fn node_error(node: &NodeProto, reason: impl Into<String>) -> FoldError {
    FoldError::Node {
        node: if node.name.is_empty() {
            node.output.first().cloned().unwrap_or_default()
        } else {
            node.name.clone()
        },
        reason: reason.into(),
    }
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// The element count of `dims`, or `None` for a negative or overflowing shape.
fn element_count(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
    })
}

/// The integer values of a quantised tensor (int8 or uint8).
fn integers(t: &TensorProto) -> Result<Vec<i32>, String> {
    let n = element_count(&t.dims).ok_or("bad shape")?;
    let values: Vec<i32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Int8) if !t.raw_data.is_empty() => {
            t.raw_data.iter().map(|&b| i32::from(b as i8)).collect()
        }
        Ok(DataType::Uint8) if !t.raw_data.is_empty() => {
            t.raw_data.iter().map(|&b| i32::from(b)).collect()
        }
        Ok(DataType::Int8 | DataType::Uint8) => t.int32_data.clone(),
        _ => {
            return Err(format!(
                "`{}` has data type {}; only int8 and uint8 are folded",
                t.name, t.data_type
            ))
        }
    };
    if values.len() != n {
        return Err(format!(
            "`{}` holds {} values for shape {:?}",
            t.name,
            values.len(),
            t.dims
        ));
    }
    Ok(values)
}

fn floats(t: &TensorProto) -> Result<Vec<f32>, String> {
    let n = element_count(&t.dims).ok_or("bad shape")?;
    if t.data_type != DataType::Float as i32 {
        return Err(format!(
            "scale `{}` has data type {}; only float scales are folded",
            t.name, t.data_type
        ));
    }
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    if values.len() != n {
        return Err(format!(
            "`{}` holds {} values for shape {:?}",
            t.name,
            values.len(),
            t.dims
        ));
    }
    Ok(values)
}

/// `(x - zero_point) * scale` as an fp32 initializer named after the node's output.
fn dequantize(node: &NodeProto, inputs: &[&TensorProto]) -> Result<TensorProto, FoldError> {
    let err = |reason: String| node_error(node, reason);
    let (x, scale, zero) = match inputs {
        [x, s] => (*x, *s, None),
        [x, s, z] => (*x, *s, Some(*z)),
        _ => return Err(err(format!("{} inputs, expected 2 or 3", inputs.len()))),
    };
    let output = node
        .output
        .first()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| err("no output".into()))?;
    let values = integers(x).map_err(&err)?;
    let scales = floats(scale).map_err(&err)?;
    let zeros = match zero {
        Some(z) => {
            if z.data_type != x.data_type {
                return Err(err("zero point and input differ in type".into()));
            }
            integers(z).map_err(&err)?
        }
        None => vec![0; scales.len()],
    };
    if zeros.len() != scales.len() {
        return Err(err("zero point and scale differ in shape".into()));
    }

    let rank = x.dims.len() as i64;
    let axis = int_attribute(node, "axis").unwrap_or(1);
    let block = int_attribute(node, "block_size").unwrap_or(0);
    let map = ScaleIndex::new(&x.dims, &scale.dims, axis, block, rank).map_err(err)?;
    let out: Vec<u8> = values
        .iter()
        .enumerate()
        .flat_map(|(i, &q)| {
            let s = map.of(i);
            ((q - zeros[s]) as f32 * scales[s]).to_le_bytes()
        })
        .collect();
    Ok(TensorProto {
        name: output.clone(),
        dims: x.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data: out,
        ..TensorProto::default()
    })
}

/// Which scale (and zero point) each element of the quantised tensor uses.
enum ScaleIndex {
    PerTensor,
    /// Element index -> scale index, for a scale along `axis` (one per `block` elements).
    Along {
        /// Product of the dimensions after the axis.
        inner: usize,
        /// Length of the axis in the quantised tensor.
        len: usize,
        /// Length of the axis in the scale tensor.
        scale_len: usize,
        block: usize,
        /// Blocked scales have the input's rank (outer dimensions repeat); per-axis ones are 1-D.
        blocked: bool,
    },
}

impl ScaleIndex {
    fn new(
        x: &[i64],
        scale: &[i64],
        axis: i64,
        block: i64,
        rank: i64,
    ) -> Result<ScaleIndex, String> {
        let scale_count = element_count(scale).ok_or("bad scale shape")?;
        if scale_count == 1 && block == 0 {
            return Ok(ScaleIndex::PerTensor);
        }
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return Err(format!("axis {axis} outside rank {rank}"));
        }
        let a = axis as usize;
        let dims: Vec<usize> = x.iter().map(|&d| d as usize).collect();
        let inner: usize = dims[a + 1..].iter().product();
        let len = dims[a];
        if block == 0 {
            if scale_count != len {
                return Err(format!(
                    "per-axis scale has {scale_count} values for an axis of {len}"
                ));
            }
            return Ok(ScaleIndex::Along {
                inner,
                len,
                scale_len: len,
                block: 1,
                blocked: false,
            });
        }
        let block = usize::try_from(block).map_err(|_| format!("block_size {block}"))?;
        let scale_len = len.div_ceil(block);
        let expected: Vec<i64> = x
            .iter()
            .enumerate()
            .map(|(j, &d)| if j == a { scale_len as i64 } else { d })
            .collect();
        if scale != expected.as_slice() {
            return Err(format!(
                "blocked scale has shape {scale:?}, expected {expected:?} for input {x:?}, axis {axis}, block_size {block}"
            ));
        }
        Ok(ScaleIndex::Along {
            inner,
            len,
            scale_len,
            block,
            blocked: true,
        })
    }

    fn of(&self, i: usize) -> usize {
        match *self {
            ScaleIndex::PerTensor => 0,
            ScaleIndex::Along {
                inner,
                len,
                scale_len,
                block,
                blocked,
            } => {
                let along = (i / inner) % len / block;
                if blocked {
                    let outer = i / (inner * len);
                    (outer * scale_len + along) * inner + i % inner
                } else {
                    along
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::AttributeProto;

    fn int8(name: &str, dims: &[i64], values: &[i8]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Int8 as i32,
            raw_data: values.iter().map(|&v| v as u8).collect(),
            ..TensorProto::default()
        }
    }

    fn float(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Float as i32,
            float_data: values.to_vec(),
            ..TensorProto::default()
        }
    }

    fn dq(inputs: &[&str], output: &str, axis: i64, block: i64) -> NodeProto {
        let attr = |name: &str, i: i64| AttributeProto {
            name: name.into(),
            i,
            r#type: 2,
            ..AttributeProto::default()
        };
        NodeProto {
            op_type: "DequantizeLinear".into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: vec![attr("axis", axis), attr("block_size", block)],
            ..NodeProto::default()
        }
    }

    fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
        let conv = NodeProto {
            op_type: "Conv".into(),
            input: vec!["data".into(), "w".into()],
            output: vec!["y".into()],
            ..NodeProto::default()
        };
        ModelProto {
            graph: Some(GraphProto {
                node: nodes.into_iter().chain([conv]).collect(),
                initializer: inits,
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
    }

    fn folded_weight(m: &ModelProto) -> Vec<f32> {
        let g = m.graph.as_ref().unwrap();
        let w = g.initializer.iter().find(|t| t.name == "w").unwrap();
        assert_eq!(w.data_type, DataType::Float as i32);
        floats(w).unwrap()
    }

    #[test]
    fn blocked_scales_apply_per_block_along_the_axis() {
        // x is 2 x 5, blocks of 2 along axis 1: 3 scales per row (the last block is short).
        let x = int8("q", &[2, 5], &[1, 2, 3, 4, 5, -1, -2, -3, -4, -5]);
        let s = float("s", &[2, 3], &[1.0, 10.0, 100.0, 2.0, 20.0, 200.0]);
        let z = int8("z", &[2, 3], &[0, 1, 0, 0, 0, -1]);
        let mut m = model(vec![dq(&["q", "s", "z"], "w", 1, 2)], vec![x, s, z]);
        assert_eq!(fold_dequantize_linear(&mut m).unwrap(), 1);
        assert_eq!(
            folded_weight(&m),
            vec![1.0, 2.0, 20.0, 30.0, 500.0, -2.0, -4.0, -60.0, -80.0, -800.0]
        );
        let g = m.graph.as_ref().unwrap();
        assert_eq!(g.node.len(), 1, "only the Conv is left");
        assert_eq!(g.initializer.len(), 1, "quantised inputs are dropped");
    }

    #[test]
    fn blocked_scales_along_axis_zero() {
        let x = int8("q", &[4], &[1, 2, 3, 4]);
        let s = float("s", &[2], &[0.5, 2.0]);
        let mut m = model(vec![dq(&["q", "s"], "w", 0, 2)], vec![x, s]);
        fold_dequantize_linear(&mut m).unwrap();
        assert_eq!(folded_weight(&m), vec![0.5, 1.0, 6.0, 8.0]);
    }

    #[test]
    fn per_tensor_and_per_axis_scales() {
        let x = int8("q", &[2, 2], &[1, 2, 3, 4]);
        let mut m = model(
            vec![dq(&["q", "s"], "w", 1, 0)],
            vec![x.clone(), float("s", &[], &[0.5])],
        );
        fold_dequantize_linear(&mut m).unwrap();
        assert_eq!(folded_weight(&m), vec![0.5, 1.0, 1.5, 2.0]);

        let mut m = model(
            vec![dq(&["q", "s"], "w", 0, 0)],
            vec![x, float("s", &[2], &[1.0, -1.0])],
        );
        fold_dequantize_linear(&mut m).unwrap();
        assert_eq!(folded_weight(&m), vec![1.0, 2.0, -3.0, -4.0]);
    }

    #[test]
    fn a_node_on_a_runtime_input_is_left_alone() {
        let mut m = model(
            vec![dq(&["data", "s"], "w", 1, 0)],
            vec![float("s", &[], &[0.5])],
        );
        assert_eq!(fold_dequantize_linear(&mut m).unwrap(), 0);
        assert_eq!(m.graph.unwrap().node.len(), 2);
    }

    #[test]
    fn inconsistent_shapes_are_errors_not_panics() {
        let cases = [
            // Blocked scale of the wrong shape.
            (
                int8("q", &[2, 5], &[0; 10]),
                float("s", &[2, 2], &[1.0; 4]),
                2,
            ),
            // Data shorter than the shape says.
            (
                int8("q", &[2, 5], &[0; 9]),
                float("s", &[2, 3], &[1.0; 6]),
                2,
            ),
            // Per-axis scale of the wrong length.
            (int8("q", &[2, 5], &[0; 10]), float("s", &[3], &[1.0; 3]), 0),
        ];
        for (x, s, block) in cases {
            let mut m = model(vec![dq(&["q", "s"], "w", 1, block)], vec![x, s]);
            let e = fold_dequantize_linear(&mut m).unwrap_err().to_string();
            assert!(e.starts_with("DequantizeLinear `w`"), "{e}");
        }
        let mut no_graph = ModelProto::default();
        assert!(fold_dequantize_linear(&mut no_graph).is_err());
    }
}
