//! Size limits applied before anything runs, and the checks that enforce them.

use super::axis::Axis;
use crate::error::SpecError;

/// Size limits applied before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows (points × replicates) a run may have.
    pub max_rows: u64,
    /// Most replicates per point.
    pub max_replicates: u64,
    /// Most points per shard.
    pub max_shard_size: u64,
    /// Most explicit values in one list.
    pub max_list_len: usize,
    /// Largest spec text accepted, in bytes (checked before parsing).
    pub max_spec_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rows: 10_000_000_000,
            max_replicates: 100_000,
            max_shard_size: 1_000_000,
            max_list_len: 100_000,
            max_spec_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Refuses spec text longer than `max_spec_bytes`, before it is parsed.
    pub(super) fn check_text(&self, text: &str) -> Result<(), SpecError> {
        if text.len() > self.max_spec_bytes {
            return Err(SpecError::new(
                "",
                format!(
                    "the spec is {} bytes, over the limit of {} bytes",
                    text.len(),
                    self.max_spec_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The number of points of `axes`, or an error if they and `replicates` make more than
    /// `max_rows` rows (overflow included).
    pub(super) fn check_rows(&self, axes: &[Axis], replicates: u64) -> Result<u64, SpecError> {
        let mut points: u64 = 1;
        for axis in axes {
            points = points
                .checked_mul(axis.len())
                .ok_or_else(|| self.too_many(u64::MAX, replicates))?;
        }
        let rows = points
            .checked_mul(replicates)
            .ok_or_else(|| self.too_many(points, replicates))?;
        if rows > self.max_rows {
            return Err(self.too_many(points, replicates));
        }
        Ok(points)
    }

    fn too_many(&self, points: u64, replicates: u64) -> SpecError {
        let shown = if points == u64::MAX {
            "more than 1.8e19".to_string()
        } else {
            points.to_string()
        };
        SpecError::new(
            "params",
            format!(
                "the sweep has {shown} points x {replicates} replicates, over the limit of {} rows (SWEEP_MAX_POINTS)",
                self.max_rows
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::axis::{AxisValues, ParamAxis};
    use super::*;

    fn linspace(n: u64) -> Axis {
        Axis::Param(ParamAxis {
            name: "x".into(),
            decl_index: 0,
            values: AxisValues::Linspace {
                start: 0.0,
                stop: 1.0,
                n,
                int: false,
            },
        })
    }

    fn small() -> Limits {
        Limits {
            max_rows: 100,
            max_spec_bytes: 10,
            ..Limits::default()
        }
    }

    #[test]
    fn text_over_the_byte_limit_is_refused_with_an_empty_path() {
        assert!(small().check_text("0123456789").is_ok());
        let e = small().check_text("0123456789a").unwrap_err();
        assert_eq!(e.path, "");
        assert_eq!(
            e.message,
            "the spec is 11 bytes, over the limit of 10 bytes"
        );
    }

    #[test]
    fn rows_count_points_times_replicates() {
        assert_eq!(small().check_rows(&[linspace(10), linspace(5)], 2), Ok(50));
        assert_eq!(small().check_rows(&[], 100), Ok(1));
        let e = small()
            .check_rows(&[linspace(10), linspace(5)], 3)
            .unwrap_err();
        assert_eq!(e.path, "params");
        assert_eq!(
            e.message,
            "the sweep has 50 points x 3 replicates, over the limit of 100 rows (SWEEP_MAX_POINTS)"
        );
    }

    #[test]
    fn overflowing_grids_are_refused_not_wrapped() {
        let huge = [linspace(u64::MAX / 2), linspace(3)];
        let e = small().check_rows(&huge, 1).unwrap_err();
        assert!(
            e.message
                .starts_with("the sweep has more than 1.8e19 points x 1 replicates")
        );
        let e = small()
            .check_rows(&[linspace(u64::MAX / 2)], 3)
            .unwrap_err();
        assert!(
            e.message
                .starts_with(&format!("the sweep has {} points", u64::MAX / 2))
        );
    }
}
