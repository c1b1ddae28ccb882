//! keyrace-scenarios: the conformance runner (issue "Conformance runner").
