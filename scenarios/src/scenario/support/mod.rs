//! What scenarios share and are not scenarios themselves: recording operations and judging
//! their power-loss states, and the client scenarios' round against a scripted server.

pub mod crash_judge;
pub mod crash_record;
pub mod witness_call;
