//! Tiny generated ONNX models with the signatures of real ones, for tests of code paths whose
//! real weights cannot ship (InsightFace ArcFace models are not on any registry). They are
//! never a stand-in for the real pipeline: their outputs mean nothing.

use crate::onnx_edit::{float_tensor, varint_field, write_len_delimited};

fn message(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    build(&mut out);
    out
}

/// A float tensor value: `dims` entries are sizes, or `None` for a named dynamic dimension.
fn value_info(name: &str, dims: &[Option<u64>]) -> Vec<u8> {
    let shape = message(|o| {
        for (i, d) in dims.iter().enumerate() {
            let dim = message(|m| match d {
                Some(v) => varint_field(1, *v, m),
                None => write_len_delimited(2, format!("d{i}").as_bytes(), m),
            });
            write_len_delimited(1, &dim, o);
        }
    });
    let tensor_type = message(|o| {
        varint_field(1, 1, o); // elem_type FLOAT
        write_len_delimited(2, &shape, o);
    });
    let type_proto = message(|o| write_len_delimited(1, &tensor_type, o));
    message(|o| {
        write_len_delimited(1, name.as_bytes(), o);
        write_len_delimited(2, &type_proto, o);
    })
}

fn ints_attribute(name: &str, values: &[u64]) -> Vec<u8> {
    message(|o| {
        write_len_delimited(1, name.as_bytes(), o);
        for v in values {
            varint_field(8, *v, o);
        }
        varint_field(20, 7, o); // AttributeType INTS
    })
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: &[Vec<u8>]) -> Vec<u8> {
    message(|o| {
        for i in inputs {
            write_len_delimited(1, i.as_bytes(), o);
        }
        for x in outputs {
            write_len_delimited(2, x.as_bytes(), o);
        }
        write_len_delimited(4, op.as_bytes(), o);
        for a in attributes {
            write_len_delimited(5, a, o);
        }
    })
}

/// An ArcFace-signature embedder: `input.1 [N,3,112,112]` -> 8x8 average pooling -> a fixed
/// pseudo-random projection with a PRelu -> `embedding [N, dim]`. `batch` fixes N (`Some(1)`,
/// like many exports) or leaves it dynamic (`None`).
pub fn arcface_like_embedder(dim: usize, batch: Option<u64>, seed: u64) -> Vec<u8> {
    let features = 3 * 14 * 14;
    let mut state = seed;
    let mut next = || {
        // SplitMix64, mapped to -1..1.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let weights: Vec<f32> = (0..features * dim).map(|_| next()).collect();
    let slope: Vec<f32> = (0..dim).map(|i| 0.1 + 0.8 * (i % 7) as f32 / 7.0).collect();
    let graph = message(|g| {
        for n in [
            node(
                "AveragePool",
                &["input.1"],
                &["pooled"],
                &[
                    ints_attribute("kernel_shape", &[8, 8]),
                    ints_attribute("strides", &[8, 8]),
                ],
            ),
            node("Flatten", &["pooled"], &["flat"], &[]),
            node("MatMul", &["flat", "projection"], &["projected"], &[]),
            node("PRelu", &["projected", "slope"], &["embedding"], &[]),
        ] {
            write_len_delimited(1, &n, g);
        }
        write_len_delimited(2, b"arcface_like_fixture", g);
        write_len_delimited(
            5,
            &float_tensor(b"projection", &[features as u64, dim as u64], &weights),
            g,
        );
        write_len_delimited(5, &float_tensor(b"slope", &[dim as u64], &slope), g);
        write_len_delimited(
            11,
            &value_info("input.1", &[batch, Some(3), Some(112), Some(112)]),
            g,
        );
        write_len_delimited(12, &value_info("embedding", &[batch, Some(dim as u64)]), g);
    });
    message(|m| {
        varint_field(1, 8, m); // ir_version
        write_len_delimited(2, b"photo_organizer tests", m);
        write_len_delimited(7, &graph, m);
        let opset = message(|o| {
            write_len_delimited(1, b"", o);
            varint_field(2, 13, o);
        });
        write_len_delimited(8, &opset, m);
    })
}
