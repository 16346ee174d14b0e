//! Edge layout of a searched cell: which row of α belongs to which (node, input) pair.
//!
//! Both spaces number edges node by node, inputs ascending, so the edges into one node form a
//! contiguous range of α rows. That is what lets per-node rules (top-2 derivation, the SGAS in-degree
//! pruning) work on slices.

use std::ops::Range;

/// Why a cell layout was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("a DARTS cell (CNN or recurrent) needs at least one intermediate node (steps >= 1), got steps = 0")]
    ZeroSteps,
    #[error(
        "α has {found} rows (edges), but a DARTS cell with {steps} steps has {expected}; \
         check the steps setting against the α the search produced"
    )]
    EdgeCount { steps: usize, expected: usize, found: usize },
}

/// The layout of the edges of one cell.
///
/// "Node" below means a node that has incoming edges, counted from 0: DARTS intermediate node `i`
/// (genotype node `i + 2`) or NAS-Bench-201 node `k + 1`. "Input" uses the numbering of the
/// genotype or arch string: in DARTS 0 and 1 are the cell inputs and `j >= 2` the intermediate node
/// `j - 2`; in NAS-Bench-201 0 is the cell input and `j >= 1` node `j`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "space", rename_all = "snake_case", try_from = "RawTopology")]
pub enum CellTopology {
    /// Node `i` takes inputs `0..i + 2`.
    Darts { steps: usize },
    /// Nodes 1..=3, node `k` takes inputs `0..k` (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).
    Nb201,
    /// The DARTS recurrent cell: node `i` reads one of the `i + 1` earlier states (the initial state
    /// and the nodes before it), so SGAS keeps one input per node.
    Recurrent { steps: usize },
}

/// Unchecked twin of [`CellTopology`], so that a checkpoint with `steps: 0` is refused on load.
#[derive(serde::Deserialize)]
#[serde(tag = "space", rename_all = "snake_case")]
enum RawTopology {
    Darts { steps: usize },
    Nb201,
    Recurrent { steps: usize },
}

impl TryFrom<RawTopology> for CellTopology {
    type Error = TopologyError;

    fn try_from(raw: RawTopology) -> Result<Self, Self::Error> {
        match raw {
            RawTopology::Darts { steps } => CellTopology::darts(steps),
            RawTopology::Nb201 => Ok(CellTopology::Nb201),
            RawTopology::Recurrent { steps } => CellTopology::recurrent(steps),
        }
    }
}

impl CellTopology {
    pub fn darts(steps: usize) -> Result<Self, TopologyError> {
        if steps == 0 {
            return Err(TopologyError::ZeroSteps);
        }
        Ok(CellTopology::Darts { steps })
    }

    /// The DARTS layout whose edge count is `num_edges`, checked against `steps`.
    pub fn recurrent(steps: usize) -> Result<Self, TopologyError> {
        if steps == 0 {
            return Err(TopologyError::ZeroSteps);
        }
        Ok(CellTopology::Recurrent { steps })
    }

    pub fn darts_checked(steps: usize, num_edges: usize) -> Result<Self, TopologyError> {
        let topology = Self::darts(steps)?;
        if topology.num_edges() != num_edges {
            return Err(TopologyError::EdgeCount { steps, expected: topology.num_edges(), found: num_edges });
        }
        Ok(topology)
    }

    /// Nodes that have incoming edges.
    pub fn num_nodes(&self) -> usize {
        match *self {
            CellTopology::Darts { steps } | CellTopology::Recurrent { steps } => steps,
            CellTopology::Nb201 => 3,
        }
    }

    /// Rows of α: 14 for a 4-step DARTS cell, 6 for NAS-Bench-201.
    pub fn num_edges(&self) -> usize {
        self.first_edge(self.num_nodes())
    }

    /// How many inputs node `node` has (its edge count); 0 past the last node.
    pub fn fan_in(&self, node: usize) -> usize {
        if node >= self.num_nodes() {
            return 0;
        }
        match self {
            CellTopology::Darts { .. } => node + 2,
            CellTopology::Nb201 | CellTopology::Recurrent { .. } => node + 1,
        }
    }

    /// The α rows of the edges into `node`; an empty range past the last node, so that callers
    /// iterating by node cannot index out of bounds.
    pub fn edges_of_node(&self, node: usize) -> Range<usize> {
        let node = node.min(self.num_nodes());
        let start = self.first_edge(node);
        start..start + self.fan_in(node)
    }

    /// `(node, input)` of edge `edge`, or `None` past the last edge.
    pub fn edge(&self, edge: usize) -> Option<(usize, usize)> {
        (0..self.num_nodes()).find_map(|node| {
            let range = self.edges_of_node(node);
            range.contains(&edge).then(|| (node, edge - range.start))
        })
    }

    /// How many incoming edges each node keeps in a final cell: 2 in DARTS, every edge in
    /// NAS-Bench-201 (`None`: no per-node limit, so SGAS prunes nothing there).
    pub fn kept_inputs(&self) -> Option<usize> {
        match self {
            CellTopology::Darts { .. } => Some(2),
            CellTopology::Recurrent { .. } => Some(1),
            CellTopology::Nb201 => None,
        }
    }

    /// Edge decisions SGAS makes before every node is complete: one per kept edge.
    pub fn num_decisions(&self) -> usize {
        match self.kept_inputs() {
            Some(k) => k * self.num_nodes(),
            None => self.num_edges(),
        }
    }

    /// Rows before `node`: DARTS Σ_{k<i}(k+2) = i(i+3)/2, NAS-Bench-201 Σ_{k<i}(k+1) = i(i+1)/2.
    /// The cell's family, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            CellTopology::Darts { .. } => "DARTS",
            CellTopology::Nb201 => "NAS-Bench-201",
            CellTopology::Recurrent { .. } => "DARTS recurrent",
        }
    }

    fn first_edge(&self, node: usize) -> usize {
        match self {
            CellTopology::Darts { .. } => node * (node + 3) / 2,
            CellTopology::Nb201 | CellTopology::Recurrent { .. } => node * (node + 1) / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::EDGES;

    #[test]
    fn darts_four_steps_has_the_reference_layout() {
        let t = CellTopology::darts(4).unwrap();
        assert_eq!(t.num_edges(), 14);
        assert_eq!(t.edges_of_node(0), 0..2);
        assert_eq!(t.edges_of_node(1), 2..5);
        assert_eq!(t.edges_of_node(2), 5..9);
        assert_eq!(t.edges_of_node(3), 9..14);
        assert_eq!(t.edges_of_node(4), 14..14);
        assert_eq!(t.edge(0), Some((0, 0)));
        assert_eq!(t.edge(4), Some((1, 2)));
        assert_eq!(t.edge(9), Some((3, 0)));
        assert_eq!(t.edge(13), Some((3, 4)));
        assert_eq!(t.edge(14), None);
        assert_eq!(t.num_decisions(), 8);
        assert_eq!(t.kept_inputs(), Some(2));
    }

    #[test]
    fn darts_edge_counts_follow_the_triangular_formula() {
        // Σ_{i<steps}(i+2): 2, 5, 9, 14, 20.
        let counts: Vec<usize> = (1..=5).map(|s| CellTopology::darts(s).unwrap().num_edges()).collect();
        assert_eq!(counts, vec![2, 5, 9, 14, 20]);
    }

    #[test]
    fn every_edge_maps_back_into_its_node_range() {
        for t in [CellTopology::darts(5).unwrap(), CellTopology::Nb201, CellTopology::recurrent(8).unwrap()] {
            for e in 0..t.num_edges() {
                let (node, input) = t.edge(e).unwrap();
                let range = t.edges_of_node(node);
                assert_eq!(range.start + input, e);
                assert!(input < t.fan_in(node));
            }
        }
    }

    /// quark0/darts `rnn/model_search.py` numbers α rows node by node: node i's i + 1 predecessors
    /// (the initial state, then nodes 1..i) take rows i(i+1)/2 .. i(i+1)/2 + i, 36 rows for 8 nodes.
    #[test]
    fn recurrent_cell_keeps_one_input_per_node_in_the_reference_row_order() {
        let t = CellTopology::recurrent(8).unwrap();
        assert_eq!(t.num_edges(), 36);
        assert_eq!((t.edges_of_node(0), t.edges_of_node(1), t.edges_of_node(7)), (0..1, 1..3, 28..36));
        assert_eq!((t.edge(35), t.kept_inputs(), t.num_decisions()), (Some((7, 7)), Some(1), 8));
        assert_eq!(CellTopology::recurrent(0), Err(TopologyError::ZeroSteps));
    }

    #[test]
    fn nb201_matches_the_benchmark_edge_order() {
        let t = CellTopology::Nb201;
        assert_eq!(t.num_edges(), 6);
        assert_eq!(t.edges_of_node(0), 0..1);
        assert_eq!(t.edges_of_node(1), 1..3);
        assert_eq!(t.edges_of_node(2), 3..6);
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            assert_eq!(t.edge(e), Some((to - 1, from)));
        }
        assert_eq!(t.kept_inputs(), None);
        assert_eq!(t.num_decisions(), 6);
    }

    #[test]
    fn bad_layouts_are_rejected_with_the_numbers() {
        assert_eq!(CellTopology::darts(0), Err(TopologyError::ZeroSteps));
        let err = CellTopology::darts_checked(4, 10).unwrap_err();
        assert_eq!(err, TopologyError::EdgeCount { steps: 4, expected: 14, found: 10 });
        assert!(err.to_string().contains("14"));
    }

    #[test]
    fn serde_round_trip() {
        for t in [CellTopology::darts(3).unwrap(), CellTopology::Nb201] {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<CellTopology>(&json).unwrap(), t);
        }
        assert_eq!(serde_json::to_string(&CellTopology::Darts { steps: 4 }).unwrap(), r#"{"space":"darts","steps":4}"#);
        let err = serde_json::from_str::<CellTopology>(r#"{"space":"darts","steps":0}"#);
        assert!(err.unwrap_err().to_string().contains("steps = 0"));
    }
}
