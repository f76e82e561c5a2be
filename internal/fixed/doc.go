// Package fixed holds every output value fosim prints but cannot compute.
//
// The contract: a constant belongs here when a real FortiGate computes
// the value or reads it from its hardware, its kernel, its license or
// FortiGuard, and fosim has nothing to compute it from (no signature
// databases, no NPU, no log disk, no kernel IPsec state). fosim then
// prints the constant, and the constant says where its value comes from:
// a seed capture, FIDELITY.md, or the FortiGate-VM 7.6.1 image fosim
// simulates.
//
// What does not belong here: a value fosim computes (hostname, serial,
// counters it keeps, times on its clock, anything read from the CMDB),
// and the fixed words of an output's format, which stay inline with the
// format. A value fosim can compute later moves out of this package and
// into the code that computes it.
//
// The table of every constant, where it appears and why it has its
// value is README.md; the firmware version strings live in cmdb
// (cmdb.Firmware, cmdb.BuildNumber, cmdb.VersionShort) because the
// configuration header needs them, and are listed in the table too.
package fixed
