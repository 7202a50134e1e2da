//! The axes of a validated spec's point space and the values along them.

use super::fields::one_entry;
use super::grid::GridForm;
use crate::experiment::Value;
use crate::sample::Sample;
use serde_json::{Value as Json, json};

/// The values one parameter takes along its axis. Generated forms stay lazy, so a
/// `linspace` of 10^9 values costs three numbers of memory.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisValues {
    /// One value for every point.
    Const(Value),
    /// Explicit values, in order.
    List(Vec<Value>),
    /// `n` evenly spaced values from `start` to `stop` inclusive.
    Linspace {
        /// First value.
        start: f64,
        /// Last value.
        stop: f64,
        /// Number of values (≥ 1).
        n: u64,
        /// Whether the parameter is an integer (values are then exact integers).
        int: bool,
    },
    /// `n` values `10^e` for `e` evenly spaced from `start` to `stop` inclusive.
    Logspace {
        /// First exponent.
        start: f64,
        /// Last exponent.
        stop: f64,
        /// Number of values (≥ 1).
        n: u64,
        /// Whether the parameter is an integer.
        int: bool,
    },
    /// `start, start + step, …` while below `stop` (above, for a negative step).
    Range {
        /// First value.
        start: f64,
        /// Exclusive end.
        stop: f64,
        /// Increment (non-zero).
        step: f64,
        /// Number of values, computed at validation.
        n: u64,
        /// Whether the parameter is an integer.
        int: bool,
    },
}

impl AxisValues {
    /// Number of values.
    pub fn len(&self) -> u64 {
        match self {
            AxisValues::Const(_) => 1,
            AxisValues::List(v) => v.len() as u64,
            AxisValues::Linspace { n, .. }
            | AxisValues::Logspace { n, .. }
            | AxisValues::Range { n, .. } => *n,
        }
    }

    /// Whether the axis has no values (never true for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `j`-th value (`j < len()`).
    pub fn get(&self, j: u64) -> Value {
        let num = |x: f64, int: bool| {
            if int {
                Value::Int(x.round() as i64)
            } else {
                Value::Float(x)
            }
        };
        match self {
            AxisValues::Const(v) => v.clone(),
            AxisValues::List(v) => v[j as usize].clone(),
            AxisValues::Linspace {
                start,
                stop,
                n,
                int,
            } => num(linspace_at(*start, *stop, *n, j), *int),
            AxisValues::Logspace {
                start,
                stop,
                n,
                int,
            } => num(10f64.powf(linspace_at(*start, *stop, *n, j)), *int),
            AxisValues::Range {
                start, step, int, ..
            } => num(start + step * j as f64, *int),
        }
    }

    /// The normalized JSON form.
    pub fn to_json(&self) -> Json {
        let num = |x: f64, int: bool| {
            if int {
                Json::from(x as i64)
            } else {
                serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
            }
        };
        match self {
            AxisValues::Const(v) => v.to_json(),
            AxisValues::List(v) => Json::Array(v.iter().map(Value::to_json).collect()),
            AxisValues::Linspace {
                start,
                stop,
                n,
                int,
            } => one_entry(
                GridForm::Linspace.name(),
                json!([num(*start, *int), num(*stop, *int), n]),
            ),
            AxisValues::Logspace { start, stop, n, .. } => one_entry(
                GridForm::Logspace.name(),
                json!([num(*start, false), num(*stop, false), n]),
            ),
            AxisValues::Range {
                start,
                stop,
                step,
                int,
                ..
            } => one_entry(
                GridForm::Range.name(),
                json!([num(*start, *int), num(*stop, *int), num(*step, *int)]),
            ),
        }
    }
}

fn linspace_at(start: f64, stop: f64, n: u64, j: u64) -> f64 {
    if n <= 1 || j == 0 {
        start
    } else if j == n - 1 {
        stop
    } else {
        start + (stop - start) * (j as f64 / (n - 1) as f64)
    }
}

/// One parameter's axis in a validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamAxis {
    /// Parameter name.
    pub name: String,
    /// Index of the parameter in the experiment's declarations.
    pub decl_index: usize,
    /// Its values.
    pub values: AxisValues,
}

/// A group of parameters that vary together (`zip:`): value `j` of every member at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipAxis {
    /// Members: name, declaration index and values (all of one length).
    pub members: Vec<(String, usize, Vec<Value>)>,
}

impl ZipAxis {
    fn len(&self) -> u64 {
        self.members[0].2.len() as u64
    }
}

/// One axis of the point space. Points are decoded by mixed radix over the axes in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// One grid parameter (from `params:`).
    Param(ParamAxis),
    /// A zipped group (from `zip:`).
    Zip(ZipAxis),
    /// A sampled design (from `sample:`), one axis of `n` points.
    Sample(Sample),
}

impl Axis {
    /// Number of positions along the axis.
    pub fn len(&self) -> u64 {
        match self {
            Axis::Param(p) => p.values.len(),
            Axis::Zip(z) => z.len(),
            Axis::Sample(s) => s.n,
        }
    }

    /// Whether the axis is empty (never for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the values at position `digit` of this axis into `values` (indexed by
    /// declaration).
    pub(super) fn assign(&self, digit: u64, values: &mut [Value]) {
        match self {
            Axis::Param(p) => values[p.decl_index] = p.values.get(digit),
            Axis::Zip(z) => {
                for (_, decl_index, vals) in &z.members {
                    values[*decl_index] = vals[digit as usize].clone();
                }
            }
            Axis::Sample(s) => {
                for (k, dim) in s.dims.iter().enumerate() {
                    values[dim.decl_index] = s.value(digit, k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(a: &AxisValues) -> Vec<Value> {
        (0..a.len()).map(|j| a.get(j)).collect()
    }

    #[test]
    fn linspace_hits_both_endpoints_exactly() {
        let a = AxisValues::Linspace {
            start: 0.1,
            stop: 0.7,
            n: 7,
            int: false,
        };
        assert_eq!(a.len(), 7);
        assert_eq!(a.get(0), Value::Float(0.1));
        assert_eq!(a.get(6), Value::Float(0.7));
        assert_eq!(a.get(3), Value::Float(0.1 + 0.6 * 0.5));
    }

    #[test]
    fn linspace_of_one_value_is_its_start() {
        let a = AxisValues::Linspace {
            start: 2.0,
            stop: 9.0,
            n: 1,
            int: false,
        };
        assert_eq!(all(&a), [Value::Float(2.0)]);
    }

    #[test]
    fn integer_linspace_gives_integers() {
        let a = AxisValues::Linspace {
            start: 0.0,
            stop: 10.0,
            n: 3,
            int: true,
        };
        assert_eq!(all(&a), [Value::Int(0), Value::Int(5), Value::Int(10)]);
    }

    #[test]
    fn logspace_gives_powers_of_ten() {
        let a = AxisValues::Logspace {
            start: -1.0,
            stop: 2.0,
            n: 4,
            int: false,
        };
        let got: Vec<f64> = all(&a).iter().map(|v| v.as_f64().unwrap()).collect();
        for (x, want) in got.iter().zip([0.1, 1.0, 10.0, 100.0]) {
            assert!((x - want).abs() <= 1e-12 * want, "{x} vs {want}");
        }
        let ints = AxisValues::Logspace {
            start: 0.0,
            stop: 3.0,
            n: 4,
            int: true,
        };
        assert_eq!(
            all(&ints),
            [
                Value::Int(1),
                Value::Int(10),
                Value::Int(100),
                Value::Int(1000)
            ]
        );
    }

    #[test]
    fn range_steps_from_start() {
        let a = AxisValues::Range {
            start: 10.0,
            stop: 0.0,
            step: -2.5,
            n: 4,
            int: false,
        };
        let got: Vec<f64> = all(&a).iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got, [10.0, 7.5, 5.0, 2.5]);
    }

    #[test]
    fn normalized_json_of_each_form() {
        let lin = AxisValues::Linspace {
            start: 1.0,
            stop: 3.0,
            n: 3,
            int: true,
        };
        assert_eq!(lin.to_json().to_string(), r#"{"linspace":[1,3,3]}"#);
        let log = AxisValues::Logspace {
            start: 0.0,
            stop: 2.0,
            n: 3,
            int: true,
        };
        assert_eq!(log.to_json().to_string(), r#"{"logspace":[0.0,2.0,3]}"#);
        let range = AxisValues::Range {
            start: 0.0,
            stop: 1.0,
            step: 0.25,
            n: 4,
            int: false,
        };
        assert_eq!(range.to_json().to_string(), r#"{"range":[0.0,1.0,0.25]}"#);
        let list = AxisValues::List(vec![Value::Int(1), Value::Bool(true)]);
        assert_eq!(list.to_json().to_string(), "[1,true]");
        assert_eq!(
            AxisValues::Const(Value::Float(2.0)).to_json().to_string(),
            "2.0"
        );
    }

    #[test]
    fn zip_axes_assign_every_member_at_once() {
        let axis = Axis::Zip(ZipAxis {
            members: vec![
                ("a".into(), 2, vec![Value::Int(1), Value::Int(2)]),
                ("b".into(), 0, vec![Value::Bool(true), Value::Bool(false)]),
            ],
        });
        assert_eq!(axis.len(), 2);
        let mut values = vec![Value::Int(0); 3];
        axis.assign(1, &mut values);
        assert_eq!(values, [Value::Bool(false), Value::Int(0), Value::Int(2)]);
    }
}
