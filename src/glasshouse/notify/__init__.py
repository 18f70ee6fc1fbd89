"""Completion notifications for video jobs: Rekognition's NotificationChannel delivered to webhooks."""
