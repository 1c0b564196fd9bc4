package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/treeoflife/treeoflife/backup"
)

var _ backup.Deleter = (*Sink)(nil)

// Delete implements backup.Deleter. On a bucket with versioning it deletes
// every version of the key and every delete marker, by version ID (which
// needs s3:ListBucketVersions and s3:DeleteObjectVersion); a version under
// Object Lock retention or a legal hold refuses, and the error says so.
// Without versioning it deletes the object.
func (s *Sink) Delete(ctx context.Context, key string) error {
	if err := checkKey(s.cfg.Prefix, key); err != nil {
		return fmt.Errorf("s3: delete %q: %w", key, err)
	}
	full := s.storeKey(key)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(full)}
	var versions []string // version IDs of key, delete markers included
	for {
		page, err := s.client.ListObjectVersions(ctx, in)
		if err != nil {
			return wrap("delete (list versions)", key, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == full {
				versions = append(versions, aws.ToString(v.VersionId))
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == full {
				versions = append(versions, aws.ToString(m.VersionId))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	if len(versions) == 0 {
		versions = []string{""} // no versioning, or nothing stored: a plain delete
	}
	for _, v := range versions {
		din := &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(full)}
		if v != "" {
			din.VersionId = aws.String(v)
		}
		if _, err := s.client.DeleteObject(ctx, din); err != nil {
			return wrap("delete", key, err)
		}
	}
	return nil
}
