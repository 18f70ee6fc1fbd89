"""The media store: organisations' uploaded files (video clips) for the video jobs and, later, the
community camera portal. Bytes in a :class:`~glasshouse.media.store.MediaStore` (local files or S3),
metadata in ``media_objects``, every change audited."""
