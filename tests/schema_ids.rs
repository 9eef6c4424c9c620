//! The Calculator schema must produce the type IDs of the reference calculator protocol: they are
//! what the other side checks on every call, so a mismatch breaks interop silently.

use capnp::traits::HasTypeId;
use windlass_calculator::calculator_capnp::calculator;

#[test]
fn calculator_type_ids_match_the_reference_protocol() {
    assert_eq!(
        calculator::Client::TYPE_ID,
        0x9798_3392_df35_cc36,
        "Calculator"
    );
    assert_eq!(
        calculator::expression::Reader::<'static>::TYPE_ID,
        0xd438_d7ca_f554_8d15,
        "Expression"
    );
    assert_eq!(
        calculator::value::Client::TYPE_ID,
        0xc3e6_9d34_d3ee_48d2,
        "Value"
    );
    assert_eq!(
        calculator::function::Client::TYPE_ID,
        0xede8_3a3d_9684_0394,
        "Function"
    );
    assert_eq!(
        calculator::Operator::TYPE_ID,
        0x8793_4078_61e6_dfe6,
        "Operator"
    );
}
