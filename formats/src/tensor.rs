//! The network's ONNX tensor tasks (`interop/task-format.md`, last section): an input block
//! read as one f32 tensor, and the result bytes a node submits for the tensor a model gives
//! back. Nodes agree only if both sides are byte-exact, so each rule of the format file is
//! one branch here, in the file's order. Run by the inference worker on the input it is handed.

use serde_json::{Map, Value};

/// Most values an input tensor may have: a 1 MiB block of raw f32 (a JSON block holds fewer).
pub const MAX_VALUES: usize = (1 << 20) / 4;
/// Most dimensions of an input shape.
pub const MAX_DIMS: usize = 8;

/// An f32 tensor: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<i64>,
    pub values: Vec<f32>,
}

/// Why an input block is not a tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Larger than one block.
    #[error("the input is {0} bytes; a task's input block is at most 1 MiB")]
    TooLarge(usize),
    /// Nothing the format allows: not JSON numbers, and not a whole number of f32s.
    #[error(
        "the input is not a tensor: expected a JSON array of numbers, an object with \"input\", \"data\", \"values\" or \"params\", an object with numeric values, or raw little-endian f32 (a multiple of 4 bytes)"
    )]
    NotATensor,
    /// An empty tensor.
    #[error("the input tensor has no values")]
    Empty,
    /// `shape` is not a list of positive integers, or does not match the values.
    #[error("the input's shape {0}")]
    Shape(String),
    /// A value that is not a finite number within f32's range.
    #[error("the input's value at index {0} is not a finite number within f32's range")]
    Value(usize),
}

/// Reads an input block as a tensor, trying the format file's forms in its order: a JSON
/// array of numbers; an object with `input`, `data` or `values` (and an optional `shape`); an
/// object with `params` (its numeric values in key order); any object's top-level numeric
/// values in key order; raw little-endian f32. The default shape is `[1, N]`.
///
/// "Key order" is sorted order, as the first Rust client reads it (serde_json's default map).
pub fn parse_input(bytes: &[u8]) -> Result<Tensor, Invalid> {
    if bytes.len() > crate::task::MAX_BLOCK {
        return Err(Invalid::TooLarge(bytes.len()));
    }
    let from_json = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => numbers(&items).map(|v| v.map(|v| (v, None))),
        Ok(Value::Object(map)) => from_object(&map),
        _ => None,
    };
    let (values, shape) = match from_json {
        Some(found) => found?,
        None if !bytes.is_empty() && bytes.len().is_multiple_of(4) => (raw_f32(bytes), None),
        None => return Err(Invalid::NotATensor),
    };
    if values.is_empty() {
        return Err(Invalid::Empty);
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Invalid::Value(i));
    }
    let shape = match shape {
        Some(s) => checked_shape(s, values.len())?,
        None => vec![1, values.len() as i64],
    };
    Ok(Tensor { shape, values })
}

/// Values and shape from an object, when one of the object forms applies.
type Found = Result<(Vec<f32>, Option<Value>), Invalid>;

fn from_object(map: &Map<String, Value>) -> Option<Found> {
    for key in ["input", "data", "values"] {
        if let Some(Value::Array(items)) = map.get(key)
            && let Some(values) = numbers(items)
        {
            return Some(values.map(|v| (v, map.get("shape").cloned())));
        }
    }
    if let Some(Value::Object(params)) = map.get("params") {
        return Some(Ok((numeric_values(params), None)));
    }
    let values = numeric_values(map);
    (!values.is_empty()).then_some(Ok((values, None)))
}

/// The items as f32 when every one is a number; `None` when one is not (another form may fit).
fn numbers(items: &[Value]) -> Option<Result<Vec<f32>, Invalid>> {
    let mut out = Vec::with_capacity(items.len().min(MAX_VALUES));
    for (i, item) in items.iter().enumerate() {
        let n = item.as_f64()?;
        out.push(to_f32(n, i));
    }
    Some(out.into_iter().collect())
}

/// The object's numeric values in key order; other values are skipped.
fn numeric_values(map: &Map<String, Value>) -> Vec<f32> {
    // serde_json's Map (without `preserve_order`) iterates in sorted key order.
    map.values().filter_map(Value::as_f64).map(|n| n as f32).collect()
}

/// `n` narrowed to f32 as the first client narrows it (`as f32`), refusing what overflows.
fn to_f32(n: f64, index: usize) -> Result<f32, Invalid> {
    let v = n as f32;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Invalid::Value(index))
    }
}

fn raw_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4")))
        .collect()
}

fn checked_shape(shape: Value, len: usize) -> Result<Vec<i64>, Invalid> {
    let Value::Array(dims) = shape else {
        return Err(Invalid::Shape("is not a list of dimensions".into()));
    };
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(Invalid::Shape(format!(
            "has {} dimensions; 1 to {MAX_DIMS} are allowed",
            dims.len()
        )));
    }
    let mut out = Vec::with_capacity(dims.len());
    let mut product: u64 = 1;
    for d in &dims {
        let n = d.as_u64().filter(|n| *n > 0 && *n <= MAX_VALUES as u64);
        let n = n.ok_or_else(|| Invalid::Shape(format!("has dimension {d}; each must be a positive integer")))?;
        product = product.saturating_mul(n);
        out.push(n as i64);
    }
    if product != len as u64 {
        return Err(Invalid::Shape(format!(
            "{out:?} holds {product} values, but the input has {len}"
        )));
    }
    Ok(out)
}

/// The result bytes for an output tensor: `serde_json`'s compact text of
/// `{"shape": […], "type": "f32", "values": […]}`, keys sorted, each value widened to f64
/// before it is printed, NaN and infinities as `null`.
pub fn output_bytes(shape: &[i64], values: &[f32]) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("shape".into(), shape.iter().copied().map(Value::from).collect());
    map.insert("type".into(), Value::from("f32"));
    // Value::from(f64) is Null for NaN and infinities.
    map.insert(
        "values".into(),
        values.iter().map(|v| Value::from(f64::from(*v))).collect(),
    );
    serde_json::to_vec(&Value::Object(map)).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bytes: &[u8]) -> Tensor {
        parse_input(bytes).unwrap()
    }

    #[test]
    fn a_json_array_is_one_row() {
        assert_eq!(
            t(b"[5.1, 3.5, 1.4, 0.2]"),
            Tensor {
                shape: vec![1, 4],
                values: vec![5.1, 3.5, 1.4, 0.2]
            }
        );
    }

    #[test]
    fn input_data_and_values_keys_are_read_in_that_order_with_their_shape() {
        assert_eq!(t(br#"{"input": [1, 2, 3, 4], "shape": [2, 2]}"#).shape, vec![2, 2]);
        assert_eq!(t(br#"{"data": [1, 2]}"#).shape, vec![1, 2]);
        assert_eq!(t(br#"{"values": [7], "data": [1, 2]}"#).values, vec![1.0, 2.0]);
        assert_eq!(t(br#"{"input": [9], "data": [1, 2]}"#).values, vec![9.0]);
    }

    #[test]
    fn params_and_plain_objects_give_their_numeric_values_in_sorted_key_order() {
        let p = t(br#"{"params": {"sepal_length": 6.3, "sepal_width": 2.5, "petal_length": 5.0, "petal_width": 1.9}}"#);
        assert_eq!(p.values, vec![5.0, 1.9, 6.3, 2.5]);
        let o = t(br#"{"d": 0.2, "c": 1.4, "b": 3.5, "a": 5.1, "note": "skipped"}"#);
        assert_eq!(o.values, vec![5.1, 3.5, 1.4, 0.2]);
    }

    #[test]
    fn anything_else_of_whole_f32s_is_raw_little_endian() {
        let raw: Vec<u8> = [4.9f32, 2.4].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(t(&raw).values, vec![4.9, 2.4]);
        // JSON that is none of the forms (a string, an array with a string) falls through too.
        assert_eq!(t(b"\"ab\"").values.len(), 1);
        assert_eq!(t(b"[1, \"x\"]").values.len(), 2);
        assert_eq!(parse_input(b"[1,\"x\"]"), Err(Invalid::NotATensor));
    }

    #[test]
    fn shapes_must_hold_exactly_the_values() {
        assert!(matches!(
            parse_input(br#"{"input": [1, 2, 3], "shape": [2, 2]}"#),
            Err(Invalid::Shape(_))
        ));
        assert!(matches!(
            parse_input(br#"{"input": [1], "shape": [0, 1]}"#),
            Err(Invalid::Shape(_))
        ));
        assert!(matches!(
            parse_input(br#"{"input": [1], "shape": "1"}"#),
            Err(Invalid::Shape(_))
        ));
    }

    #[test]
    fn empty_overflowing_and_oversized_inputs_are_refused() {
        assert_eq!(parse_input(b"[]"), Err(Invalid::Empty));
        assert_eq!(parse_input(b""), Err(Invalid::NotATensor));
        assert_eq!(parse_input(b"[1, 1e300]"), Err(Invalid::Value(1)));
        let nan = f32::NAN.to_le_bytes();
        assert_eq!(parse_input(&nan), Err(Invalid::Value(0)));
        let big = vec![b'0'; (1 << 20) + 4];
        assert_eq!(parse_input(&big), Err(Invalid::TooLarge(big.len())));
    }

    #[test]
    fn output_bytes_widen_each_f32_and_write_serde_json_numbers() {
        let out = output_bytes(&[1, 4], &[0.1, 1_152_921_504_606_846_976.0, 1e-7, f32::NAN]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"shape":[1,4],"type":"f32","values":[0.10000000149011612,1.152921504606847e+18,1.0000000116860974e-7,null]}"#
        );
    }
}
