//! The benchmark's `ModelMetrics` protobuf (its `model_metrics.proto`, proto2), declared by hand
//! with prost's derive macros: two small messages need no build script or protoc.

/// One training run of one cell: an evaluation at each checkpoint, the parameter count and the
/// total time. The benchmark stores three checkpoints: start, half-way and end of training.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelMetrics {
    #[prost(message, repeated, tag = "1")]
    pub evaluation_data: Vec<EvaluationData>,
    #[prost(int32, optional, tag = "2")]
    pub trainable_parameters: Option<i32>,
    #[prost(double, optional, tag = "3")]
    pub total_time: Option<f64>,
}

/// The metrics of one checkpoint.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EvaluationData {
    #[prost(double, optional, tag = "1")]
    pub current_epoch: Option<f64>,
    /// Seconds of training up to this checkpoint, evaluation excluded.
    #[prost(double, optional, tag = "2")]
    pub training_time: Option<f64>,
    #[prost(double, optional, tag = "3")]
    pub train_accuracy: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub validation_accuracy: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub test_accuracy: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub checkpoint_path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn wire_format_by_hand() {
        // Field 2 (varint, key 0x10) = 300 (0xac 0x02); field 1 (length-delimited, key 0x0a) holding
        // field 5 (fixed64, key 0x29) = 0.5 (0x3fe0000000000000, little-endian).
        let bytes = [0x10, 0xac, 0x02, 0x0a, 0x09, 0x29, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f];
        let m = ModelMetrics::decode(&bytes[..]).unwrap();
        assert_eq!(m.trainable_parameters, Some(300));
        assert_eq!(m.evaluation_data.len(), 1);
        assert_eq!(m.evaluation_data[0].test_accuracy, Some(0.5));
        assert_eq!(m.evaluation_data[0].training_time, None);
        assert_eq!(ModelMetrics::decode(m.encode_to_vec().as_slice()).unwrap(), m);
    }
}
