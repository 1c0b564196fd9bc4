package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/file"
	"github.com/treeoflife/treeoflife/backup/s3"
)

const want = `shipped 25 records, lag 0
backup synced true: 25 of 25 records
backup verified: 25 records, same head as the log: true
restored 25 records, verified 25, same head: true
`

func check(t *testing.T, opts treeoflife.Options) {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), &out, t.TempDir(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// The file sink needs nothing but a directory: this runs everywhere.
func TestRunFile(t *testing.T) {
	sink, err := file.New(context.Background(), file.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	check(t, treeoflife.Options{Backup: sink})
}

// Against a real S3-compatible store: scripts/test.sh starts MinIO and sets
// TOL_S3_ENDPOINT, TOL_S3_BUCKET and the AWS credentials.
func TestRunS3(t *testing.T) {
	endpoint := os.Getenv("TOL_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("TOL_S3_ENDPOINT is not set, and TOL_REQUIRE_INTEGRATION=1 requires the S3 example to run")
		}
		t.Skip("TOL_S3_ENDPOINT is not set: run scripts/test.sh to run this example against MinIO")
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	sink, err := s3.New(context.Background(), s3.Config{Bucket: os.Getenv("TOL_S3_BUCKET"), Region: region, Endpoint: endpoint, UsePathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	check(t, treeoflife.Options{Backup: sink, BackupPrefix: "examples-backup-" + hex.EncodeToString(b[:])})
}
