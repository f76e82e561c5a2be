package iked

import (
	"fmt"
	"testing"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
)

// BenchmarkIKESetupTCP: IKE_SA setups per second over TCP (RFC 9329) and
// over UDP against the same phase1 (transport auto) in the same run; the
// figure is TCP's rate over UDP's (x-udp; issue 10's target: at least
// 1/1.5).
func BenchmarkIKESetupTCP(b *testing.B) {
	port := freeTCPPort(b)
	l := newLabTB(b, fmt.Sprintf(tcpPhase1, port, "auto"), false)
	ikeS, _ := suite.ParseIKE("aes128-sha256")
	ikeS.DHGroup = 19
	espS, _ := suite.ParseESP("aes128-sha256")
	tcp := l.d.TCPAddrs()[0]
	b.ResetTimer()
	tcpRate := runSetups(b, tcp, ikeS, espS, client.TransportTCP)
	udpRate := runSetups(b, l.d.Addrs()[0], ikeS, espS, client.TransportUDP)
	b.ReportMetric(tcpRate, "tcp-setups/s")
	b.ReportMetric(udpRate, "udp-setups/s")
	b.ReportMetric(tcpRate/udpRate, "x-udp")
}
