// Tap or click a figure to see it at full size (figures shrink to the column, on a phone below legibility);
// tap again, or press Escape, to close. No network, no dependencies.
(function () {
  function close() {
    var open = document.querySelector('.figure-zoom');
    if (open) { open.remove(); return true; }
    return false;
  }
  document.addEventListener('click', function (event) {
    if (close()) { return; }
    var target = event.target;
    var img = target && target.closest &&
      target.closest('.bd-article figure img, .bd-article .cell_output img');
    if (!img) { return; }
    var box = document.createElement('div');
    box.className = 'figure-zoom';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', 'Figure at full size; tap to close');
    box.appendChild(img.cloneNode());
    document.body.appendChild(box);
  });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { close(); }
  });
})();

// A table wider than the column scrolls inside its box (alliance.css); its caption is lifted out of the
// scrolling box so it wraps at the column width instead of being cut off at both edges.
(function () {
  function liftCaptions() {
    var boxes = document.querySelectorAll('.bd-article .pst-scrollable-table-container, ' +
                                          '.bd-article .table-wrapper');
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var table = box.querySelector('table');
      var caption = table && table.querySelector(':scope > caption');
      if (!caption || table.scrollWidth <= box.clientWidth + 1) { continue; }
      var lifted = document.createElement('div');
      lifted.className = 'table-caption';
      while (caption.firstChild) { lifted.appendChild(caption.firstChild); }
      caption.remove();
      box.parentNode.insertBefore(lifted, box);
    }
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', liftCaptions); }
  else { liftCaptions(); }
})();
