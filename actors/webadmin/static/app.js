// The web admin's behaviour (no inline script anywhere: the CSP forbids it).
'use strict';
