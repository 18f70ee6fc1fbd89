"""The S3-compatible object endpoint: the subset of S3 that AWS code uses to upload media before calling
Rekognition, over Glasshouse's media store. Each organisation has one bucket, named like it."""
