//! What scenarios share and are not scenarios themselves: the client scenarios' round against
//! a scripted server. (Recording and judging crash states is [`super::crash`]'s.)

pub mod witness_call;
