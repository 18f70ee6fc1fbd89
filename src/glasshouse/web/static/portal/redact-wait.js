// Forms that make redacted copies answer only when the copy is ready (seconds per clip): while the server
// redacts, the button is disabled and a status line says what is happening. Without this script the form
// posts as usual and the browser shows its own loading state.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-wait]")) {
    form.addEventListener("submit", (event) => {
      const status = form.querySelector(".wait-status");
      const redacting = Array.from(form.querySelectorAll("input[type=radio][value=redacted]:checked"))
        .some((radio) => form.querySelector(`input[name=clip_id][value="${radio.dataset.clip}"]:checked`));
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      if (status && (redacting || !form.querySelector("input[type=radio]"))) {
        status.hidden = false;
        status.textContent = form.dataset.wait;
      }
      if (event.submitter && event.submitter.name) {  // a disabled button is not submitted: keep its value
        const hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = event.submitter.name;
        hidden.value = event.submitter.value;
        form.appendChild(hidden);
      }
    });
  }
});
