"""AWS Rekognition-compatible JSON 1.1 API."""
