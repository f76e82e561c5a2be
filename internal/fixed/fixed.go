package fixed

// The simulated image: a FortiGate-VM64 running FortiOS 7.6.1 build 3462
// (its version strings are cmdb.Firmware, cmdb.BuildNumber and
// cmdb.VersionShort).
const (
	// Platform is the model FortiOS names in "get system status"
	// ("Version: FortiGate-VM64 v7.6.1,…"), on the dashboard, and as the
	// factory hostname.
	Platform = "FortiGate-VM64"
	// ModelName, ModelNumber and Model are monitor/system/status's
	// model_name, model_number and model for that platform.
	ModelName   = "FortiGate"
	ModelNumber = "VM64"
	Model       = "FGVM64"
	// GABuildDate is the image's build date (yymmdd), the last part of
	// cmdb.Firmware: "First GA patch build date" and the revision list's
	// firmware version.
	GABuildDate = "241022"
	// SecurityLevel is the "Security Level" a FortiOS 7.6.1 VM image
	// prints in "get system status".
	SecurityLevel = "2"
	// FirmwareSignature is what FortiOS found checking the image's
	// signature at boot; fosim's image is the simulated one.
	FirmwareSignature = "certified"
	// ReleaseVersionInformation is the image's release type (GA, not a
	// special build).
	ReleaseVersionInformation = "GA"
	// FortiOSx8664 says the image is the 64-bit x86 build.
	FortiOSx8664 = "Yes"
)

// The VM license and the virtual machine fosim does not have.
const (
	// LicenseStatus is FortiGuard's verdict on the VM license; fosim has
	// no license to check.
	LicenseStatus = "Valid"
	// VMCPULimit is the number of vCPUs the VM license allows; "get
	// system status" shows the host's CPUs up to that.
	VMCPULimit = 2
	// VMMemoryMB and VMMemoryAllowedMB are the RAM the VM has and the
	// license allows, as a 2 GB VM reports them.
	VMMemoryMB        = 2007
	VMMemoryAllowedMB = 2048
	// MaxVDOMs is the license's VDOM count.
	MaxVDOMs = 1
	// LogHardDisk and LogDiskStatus say the unit has no log disk ("get
	// system status", monitor/system/status log_disk_status): a VM
	// without a second disk.
	LogHardDisk   = "Not available"
	LogDiskStatus = "not_available"
	// LastRebootReason is what the unit's boot records say; fosim keeps
	// no boot records.
	LastRebootReason = "power cycle"
)

// FortiGuard signature database versions ("get system status"): fosim
// has no FortiGuard updates, so it shows the versions of an image that
// never had one.
const (
	VirusDB    = "1.00000(2018-04-09 18:07)"
	ExtendedDB = "1.00000(2018-04-09 18:07)"
	ExtremeDB  = "1.00000(2018-04-09 18:07)"
	IPSDB      = "6.00741(2015-12-01 02:30)"
	IPSETDB    = "6.00741(2015-12-01 02:30)"
	APPDB      = "6.00741(2015-12-01 02:30)"
)

// IPsec fields of "diagnose vpn ike gateway list" and "diagnose vpn
// tunnel list" that FortiOS's kernel and NPU keep and fosim has no kernel
// state for: the values of seed 002 (FIDELITY.md).
const (
	// RemoteLocation is the gateway list's remote_location, the peer's
	// location FortiOS looks up; seed 002 shows 0.0.0.0.
	RemoteLocation = "0.0.0.0"

	// A dial-up phase1's parent entry: encap=none/552,
	// options[0228]=npu frag-rfc, refcnt=3.
	DialupEncap       = "none/552"
	DialupOptionBits  = "0228"
	DialupOptionFlags = "npu frag-rfc"
	DialupRefcnt      = 3

	// A tunnel's entry: dst_mtu=1500, encap=none/74408,
	// options[122a8]=npu rgwy-chg frag-rfc, refcnt=7. The npu flag says
	// the tunnel is offloaded, as on the seed's unit.
	TunnelDstMTU      = 1500
	TunnelEncap       = "none/74408"
	TunnelOptionBits  = "122a8"
	TunnelOptionFlags = "npu rgwy-chg frag-rfc"
	TunnelRefcnt      = 7

	// ProxyIDRef is a phase2's ref= (seed 002 has ref=4).
	ProxyIDRef = 2

	// A child SA's kernel fields: ref=3, options=10226, mtu=1438,
	// replaywin=2048, hash_search_len=1. Seed 002 elides options and shows
	// mtu=1422 for its NAT-T tunnel; fosim does not work out the ESP
	// overhead of each proposal and encapsulation.
	SARef         = 3
	SAOptions     = "10226"
	SAMTU         = 1438
	ReplayWindow  = 2048
	HashSearchLen = 1

	// TCPTransportRefcnt is the socket refcnt= of iked's "accepts ike
	// tcp-transport" debug line (FIDELITY.md, Debug lines).
	TCPTransportRefcnt = 2
)

// Fields of "diagnose test application fcnacd 7" (the ZTNA tag cache)
// whose meaning FortiOS does not publish: the values of the 7.6.7
// administration guide's example ("ZTNA tag caching").
const (
	TagCacheSubTS = 0 // an endpoint's "Sub TS:"
	TagCacheTTDL  = 1 // a tag's "ttdl:"
)
