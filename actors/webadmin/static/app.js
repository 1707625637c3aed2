// The web admin's behaviour (no inline script anywhere: the CSP forbids it).
// Pages work without it; it adds the live alarm list: on /alarms an
// EventSource on /events/alarms (the session cookie goes with it) inserts
// or updates one row per alarm uuid, and removes cleared ones. Text from
// the server is set with textContent only.
'use strict';

(function () {
  var COLUMNS = ['id', 'severity', 'title', 'detail', 'peer', 'state', 'raised_at'];
  var CLASSES = ['c-id', 'c-severity', 'c-title', 'c-detail', 'c-peer', 'c-state', 'c-raised'];

  // The session's CSRF token, from any form of the page (the logout form)
  function csrfToken() {
    var input = document.querySelector('input[name="csrf"]');
    return input ? input.value : '';
  }

  function ackForm(uuid) {
    var form = document.createElement('form');
    form.method = 'post';
    form.action = '/alarms/' + encodeURIComponent(uuid) + '/ack';
    var csrf = document.createElement('input');
    csrf.type = 'hidden';
    csrf.name = 'csrf';
    csrf.value = csrfToken();
    var button = document.createElement('button');
    button.type = 'submit';
    button.textContent = 'Acknowledge';
    form.appendChild(csrf);
    form.appendChild(button);
    return form;
  }

  function findRow(tbody, uuid) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++)
      if (rows[i].getAttribute('data-uuid') === uuid) return rows[i];
    return null;
  }

  function showEmpty(tbody) {
    var empty = document.getElementById('no-alarms');
    if (tbody.rows.length === 0 && !empty) {
      empty = document.createElement('p');
      empty.id = 'no-alarms';
      empty.className = 'empty';
      empty.textContent = 'No active alarms.';
      tbody.parentNode.parentNode.insertBefore(empty, tbody.parentNode.nextSibling);
    } else if (tbody.rows.length > 0 && empty) {
      empty.parentNode.removeChild(empty);
    }
  }

  function applyAlarm(tbody, alarm) {
    if (!alarm || typeof alarm.uuid !== 'string') return;
    var row = findRow(tbody, alarm.uuid);
    if (alarm.state === 'cleared') {
      if (row) row.parentNode.removeChild(row);
      showEmpty(tbody);
      return;
    }
    if (!row) {
      row = document.createElement('tr');
      row.setAttribute('data-uuid', alarm.uuid);
      for (var c = 0; c < CLASSES.length; c++) {
        var cell = document.createElement('td');
        cell.className = CLASSES[c];
        row.appendChild(cell);
      }
      var ack = document.createElement('td');
      ack.className = 'c-ack';
      row.appendChild(ack);
      tbody.insertBefore(row, tbody.firstChild);
    }
    row.className = 'sev-' + String(alarm.severity || '');
    for (var i = 0; i < COLUMNS.length; i++) {
      var td = row.querySelector('.' + CLASSES[i]);
      var value = alarm[COLUMNS[i]];
      td.textContent = value === undefined || value === null ? '' : String(value);
    }
    var actions = row.querySelector('.c-ack');
    var form = actions.querySelector('form');
    if (alarm.state === 'raised' && !form) actions.appendChild(ackForm(alarm.uuid));
    else if (alarm.state !== 'raised' && form) actions.removeChild(form);
    showEmpty(tbody);
  }

  function applySnapshot(tbody, snapshot) {
    if (!snapshot || !Array.isArray(snapshot.uuids)) return;
    var keep = {};
    snapshot.uuids.forEach(function (u) { keep[u] = true; });
    Array.prototype.slice.call(tbody.rows).forEach(function (row) {
      if (!keep[row.getAttribute('data-uuid')]) row.parentNode.removeChild(row);
    });
    showEmpty(tbody);
  }

  function liveAlarms() {
    var table = document.getElementById('alarms');
    if (!table || typeof EventSource === 'undefined') return;
    var tbody = table.tBodies[0];
    var live = document.getElementById('live');
    var source = new EventSource('/events/alarms');
    source.addEventListener('open', function () {
      if (live) live.textContent = 'Live.';
      document.body.setAttribute('data-live', 'open');
    });
    source.addEventListener('error', function () {
      if (live) live.textContent = 'Reconnecting...';
      document.body.setAttribute('data-live', 'reconnecting');
    });
    source.addEventListener('alarm', function (event) {
      try { applyAlarm(tbody, JSON.parse(event.data)); } catch (e) { /* a malformed event is skipped */ }
    });
    source.addEventListener('snapshot', function (event) {
      try { applySnapshot(tbody, JSON.parse(event.data)); } catch (e) { /* skipped */ }
    });
    window.addEventListener('pagehide', function () { source.close(); });
  }

  document.addEventListener('DOMContentLoaded', liveAlarms);
})();
