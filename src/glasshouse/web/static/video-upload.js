// Streams the chosen video to the media store with a progress bar (PUT /ui/video/uploads/NAME, the
// session's CSRF token in a header). Without this script the form posts as an ordinary upload.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("video-upload");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    const file = form.elements.file.files[0];
    if (!file) return;
    event.preventDefault();
    const name = form.elements.name.value.trim() || file.name;
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/ui/video/uploads/" + encodeURIComponent(name));
    xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf_token.value);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    bar.hidden = false;
    form.querySelector("button").disabled = true;
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = `Uploading ${name}: ${bar.value}% of ${(e.total / 1048576).toFixed(1)} MB`;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        window.location.assign("/ui/video/?uploaded=" + encodeURIComponent(name));
        return;
      }
      let message = `The upload failed (HTTP ${xhr.status}).`;
      try { message = JSON.parse(xhr.responseText).error.message; } catch (_) { /* not JSON */ }
      status.textContent = message;
      form.querySelector("button").disabled = false;
    });
    xhr.addEventListener("error", () => {
      status.textContent = "The upload was interrupted: nothing was stored. Try again.";
      form.querySelector("button").disabled = false;
    });
    xhr.send(file);
  });
});
