package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/azblob"
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

// Against Azurite, configured from the environment as the command's doc
// shows: scripts/test.sh starts Azurite and sets TOL_AZURE_ENDPOINT (with
// the emulator's public development account devstoreaccount1).
func TestRunAzure(t *testing.T) {
	endpoint := os.Getenv("TOL_AZURE_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("TOL_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("TOL_AZURE_ENDPOINT is not set, and TOL_REQUIRE_INTEGRATION=1 requires the Azure example to run (is npm missing?)")
		}
		t.Skip("TOL_AZURE_ENDPOINT is not set: run scripts/test.sh to run this example against Azurite")
	}
	const devKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	t.Setenv("ENABLE_CLOUD_BACKUP", "1")
	t.Setenv("BACKUP_PROVIDER", "azure")
	t.Setenv("AZURE_STORAGE_CONTAINER", "tol-examples")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="+devKey+";BlobEndpoint="+endpoint+";")
	var b [6]byte
	rand.Read(b[:])
	t.Setenv("BACKUP_PREFIX", "examples-backup-"+hex.EncodeToString(b[:])+"/")
	opts, err := treeoflife.OptionsFromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sink, ok := opts.Backup.(*azblob.Sink)
	if !ok {
		t.Fatalf("BACKUP_PROVIDER=azure gave a %T", opts.Backup)
	}
	if _, err := sink.Client().Create(context.Background(), nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatal(err)
	}
	check(t, opts)
}
