//! Isolation Forest (Liu, Ting and Zhou, 2008): anomalies are few and different, so random
//! axis-parallel cuts isolate them in fewer steps than normal points.
//!
//! Each tree is grown on a random subsample (256 points by default) with random features and random
//! cut points until every point is alone or the depth limit `ceil(log2(sample))` is reached. A point's
//! score is `2^(-E[h(x)] / c(n))`, where `h` is its path length (plus the expected length `c` of the
//! unbuilt subtree at a leaf holding several points) and `c(n)` the average path length of an
//! unsuccessful search in a binary search tree of `n` points: near 1 for anomalies, around 0.5 and
//! below for normal points. The random generator is seeded, so the same data gives the same scores.

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};

/// Subsample size of each tree, the paper's default.
pub const DEFAULT_SAMPLE_SIZE: usize = 256;

/// A trained forest over points of `dimensions` features each.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    sample_size: usize,
    dimensions: usize,
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Leaf { size: usize },
    Split { feature: usize, threshold: f64, left: usize, right: usize },
}

impl IsolationForest {
    /// Grows `trees` trees on subsamples of at most `sample_size` rows of `data`, using a generator
    /// seeded with `seed`. Every row must have the same number of features; empty `data` gives a
    /// forest that scores everything 0.5.
    pub fn fit(data: &[Vec<f64>], trees: usize, sample_size: usize, seed: u64) -> Self {
        let dimensions = data.first().map_or(0, Vec::len);
        let sample_size = sample_size.clamp(1, data.len().max(1));
        let depth_limit = (sample_size as f64).log2().ceil() as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        let trees = if data.is_empty() {
            Vec::new()
        } else {
            (0..trees.max(1))
                .map(|_| {
                    let rows: Vec<&[f64]> =
                        index::sample(&mut rng, data.len(), sample_size).iter().map(|i| data[i].as_slice()).collect();
                    let mut tree = Tree { nodes: Vec::new() };
                    tree.grow(&rows, 0, depth_limit, &mut rng);
                    tree
                })
                .collect()
        };
        IsolationForest { trees, sample_size, dimensions }
    }

    /// Number of features the forest was trained on.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Anomaly score of `point` in (0, 1]: above ~0.6 stands out, around 0.5 or below is normal.
    pub fn score(&self, point: &[f64]) -> f64 {
        if self.trees.is_empty() {
            return 0.5;
        }
        let mean_path = self.trees.iter().map(|t| t.path_length(point)).sum::<f64>() / self.trees.len() as f64;
        let normaliser = average_path_length(self.sample_size);
        if normaliser <= 0.0 {
            return 0.5;
        }
        2f64.powf(-mean_path / normaliser)
    }
}

impl Tree {
    /// Appends the subtree for `rows` and returns its node index.
    fn grow(&mut self, rows: &[&[f64]], depth: usize, depth_limit: usize, rng: &mut StdRng) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node::Leaf { size: rows.len() });
        if rows.len() <= 1 || depth >= depth_limit {
            return at;
        }
        // Only features that vary among these rows can be cut.
        let dimensions = rows[0].len();
        let ranges: Vec<(usize, f64, f64)> = (0..dimensions)
            .filter_map(|f| {
                let (lo, hi) =
                    rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r[f]), hi.max(r[f])));
                (hi > lo).then_some((f, lo, hi))
            })
            .collect();
        if ranges.is_empty() {
            return at;
        }
        let (feature, lo, hi) = ranges[rng.random_range(0..ranges.len())];
        let threshold = rng.random_range(lo..hi);
        let (left_rows, right_rows): (Vec<&[f64]>, Vec<&[f64]>) = rows.iter().partition(|r| r[feature] < threshold);
        let left = self.grow(&left_rows, depth + 1, depth_limit, rng);
        let right = self.grow(&right_rows, depth + 1, depth_limit, rng);
        self.nodes[at] = Node::Split { feature, threshold, left, right };
        at
    }

    fn path_length(&self, point: &[f64]) -> f64 {
        let mut node = 0;
        let mut depth = 0.0;
        loop {
            match self.nodes[node] {
                Node::Leaf { size } => return depth + average_path_length(size),
                Node::Split { feature, threshold, left, right } => {
                    let value = point.get(feature).copied().unwrap_or(0.0);
                    node = if value < threshold { left } else { right };
                    depth += 1.0;
                }
            }
        }
    }
}

/// `c(n)`: average path length of an unsuccessful search in a binary search tree of `n` points.
fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster_with_outlier() -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut data: Vec<Vec<f64>> =
            (0..300).map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)]).collect();
        data.push(vec![8.0, -7.5]);
        data
    }

    #[test]
    fn an_outlier_scores_far_above_the_cluster() {
        let data = cluster_with_outlier();
        let forest = IsolationForest::fit(&data, 100, DEFAULT_SAMPLE_SIZE, 42);
        assert_eq!(forest.dimensions(), 2);
        let outlier = forest.score(&[8.0, -7.5]);
        let centre = forest.score(&[0.0, 0.0]);
        assert!(outlier > 0.7, "outlier {outlier}");
        assert!(centre < 0.5, "centre {centre}");
    }

    #[test]
    fn the_same_seed_gives_the_same_scores() {
        let data = cluster_with_outlier();
        let a = IsolationForest::fit(&data, 50, 64, 1);
        let b = IsolationForest::fit(&data, 50, 64, 1);
        let c = IsolationForest::fit(&data, 50, 64, 2);
        let point = [0.9, 0.9];
        assert_eq!(a.score(&point), b.score(&point));
        assert_ne!(a.score(&point), c.score(&point));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(IsolationForest::fit(&[], 10, 256, 0).score(&[1.0]), 0.5);
        let constant = vec![vec![3.0]; 20];
        let forest = IsolationForest::fit(&constant, 10, 256, 0);
        assert!(forest.score(&[3.0]).is_finite());
        assert_eq!(average_path_length(2), 1.0);
    }
}
