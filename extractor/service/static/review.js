// extractor review page: place each value's box over its page, link boxes and inputs,
// add and remove list rows, and save the form as corrected data (PUT … /corrections).
// Document text reaches the page only through the server's escaping: this script sets
// styles, `value` and `textContent`, never HTML.
"use strict";

(function () {
  function placeBoxes() {
    document.querySelectorAll("figure.page").forEach(function (figure) {
      var width = parseFloat(figure.dataset.width);
      var height = parseFloat(figure.dataset.height);
      figure.querySelectorAll(".box").forEach(function (box) {
        var b = box.dataset.box.split(",").map(parseFloat);
        box.style.left = (100 * b[0] / width) + "%";
        box.style.top = (100 * b[1] / height) + "%";
        box.style.width = (100 * Math.max(b[2] - b[0], 1) / width) + "%";
        box.style.height = (100 * Math.max(b[3] - b[1], 1) / height) + "%";
      });
    });
  }

  function byPath(selector, path) {
    return Array.prototype.filter.call(document.querySelectorAll(selector), function (el) {
      return el.dataset.path === path || el.dataset.for === path;
    });
  }

  function highlight(path) {
    document.querySelectorAll(".active").forEach(function (el) { el.classList.remove("active"); });
    byPath(".box, label.field", path).forEach(function (el) { el.classList.add("active"); });
  }

  function tokens(path) {
    var parts = [];
    path.replace(/([^.[\]]+)|\[(\d+)\]/g, function (_, name, index) {
      parts.push(index === undefined ? name : parseInt(index, 10));
      return "";
    });
    return parts;
  }

  function setPath(root, path, value) {
    var parts = tokens(path);
    var node = root;
    for (var i = 0; i < parts.length - 1; i++) {
      if (node[parts[i]] === undefined || node[parts[i]] === null) {
        node[parts[i]] = typeof parts[i + 1] === "number" ? [] : {};
      }
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  function getPath(root, path) {
    return tokens(path).reduce(function (node, part) {
      return node === undefined || node === null ? undefined : node[part];
    }, root);
  }

  function valueOf(input) {
    var text = input.value.trim();
    var kind = input.dataset.kind;
    if (text === "") { return input.dataset.nullable === "1" ? null : ""; }
    if (kind === "number" || kind === "integer") {
      var number = Number(text);
      return isNaN(number) ? text : number;  // the server names what is wrong
    }
    if (kind === "boolean") {
      return text === "true" ? true : text === "false" ? false : text;
    }
    return input.value;
  }

  function empty(value) {
    if (value === null || value === undefined) { return true; }
    if (Array.isArray(value)) { return value.length === 0; }
    if (typeof value === "object") { return Object.keys(value).every(function (k) { return empty(value[k]); }); }
    return false;
  }

  function collect(form) {
    var data = {};
    form.querySelectorAll("[data-list]").forEach(function (list) { setPath(data, list.dataset.list, []); });
    form.querySelectorAll("input[data-path]").forEach(function (input) {
      setPath(data, input.dataset.path, valueOf(input));
    });
    var objects = Array.prototype.slice.call(form.querySelectorAll("[data-object]")).reverse();
    objects.forEach(function (group) {
      if (group.dataset.nullable === "1" && empty(getPath(data, group.dataset.object))) {
        setPath(data, group.dataset.object, null);
      }
    });
    return data;
  }

  function renumber(list) {
    var prefix = list.dataset.list + "[";
    var rows = list.querySelector(".rows").children;
    Array.prototype.forEach.call(rows, function (row, index) {
      row.querySelectorAll("[data-path], [data-for], [data-list], [data-object]").forEach(function (el) {
        ["path", "for", "list", "object"].forEach(function (key) {
          var value = el.dataset[key];
          if (value && value.indexOf(prefix) === 0) {
            el.dataset[key] = prefix + index + value.slice(value.indexOf("]", prefix.length));
          }
        });
      });
    });
  }

  function onClick(event) {
    var target = event.target;
    if (target.classList.contains("box")) {
      highlight(target.dataset.path);
      var input = byPath("input[data-path]", target.dataset.path)[0];
      if (input) { input.focus(); }
    } else if (target.classList.contains("add-row")) {
      var list = target.closest("[data-list]");
      var template = list.querySelector("template");
      list.querySelector(".rows").appendChild(template.content.cloneNode(true));
      renumber(list);
    } else if (target.classList.contains("remove-row")) {
      var owner = target.closest("[data-list]");
      target.closest(".row").remove();
      renumber(owner);
    }
  }

  function showErrors(list, errors) {
    list.textContent = "";
    errors.forEach(function (error) {
      var item = document.createElement("li");
      item.className = "error";
      item.textContent = (error.loc || []).join(".") + ": " + error.msg;
      list.appendChild(item);
    });
  }

  function save(event) {
    event.preventDefault();
    var form = event.target;
    var status = document.getElementById("save-status");
    var errors = document.getElementById("save-errors");
    status.textContent = "Saving…";
    fetch(document.body.dataset.saveUrl, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(collect(form)),
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok) {
        status.textContent = "Saved " + answer.body.saved_at;
        status.dataset.saved = answer.body.saved_at;
        showErrors(errors, []);
      } else {
        var error = answer.body.error || {};
        status.textContent = "Not saved: " + (error.message || "error");
        showErrors(errors, error.errors || []);
      }
    }).catch(function (failure) {
      status.textContent = "Not saved: " + failure;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    placeBoxes();
    document.addEventListener("click", onClick);
    document.addEventListener("focusin", function (event) {
      if (event.target.dataset && event.target.dataset.path) { highlight(event.target.dataset.path); }
    });
    var form = document.getElementById("corrections");
    if (form) { form.addEventListener("submit", save); }
  });
})();
