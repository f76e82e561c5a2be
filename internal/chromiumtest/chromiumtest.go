// Package chromiumtest starts Debian's headless Chromium for tests, driven
// by chromedp, and saves screenshots of its page.
package chromiumtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// Installed reports whether Chromium is at Path (apt-get install chromium).
func Installed() bool {
	_, err := exec.LookPath(Path)
	return err == nil
}

// Start is a headless Chromium with a fresh profile and a width×height
// window, given up on after 90 seconds and ended with the test; extra
// options are added to the defaults. The caller checks Installed first.
func Start(t testing.TB, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("chromium does not start: %v", err)
	}
	return bctx
}

// Screenshot saves the page as name.png in the directory $dirVar names
// when set (to look at), else in the test's temporary directory.
func Screenshot(t testing.TB, ctx context.Context, dirVar, name string) {
	t.Helper()
	dir := os.Getenv(dirVar)
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
