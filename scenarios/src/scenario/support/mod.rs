//! What scenarios share and are not scenarios themselves: recording operations and judging
//! their power-loss states, and the client scenarios' round against a scripted server.

pub mod power_loss;
pub mod witness_call;
