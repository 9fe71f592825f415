# Writes exact Ethernet frames to an interface, for test/e2e/hostile-sender.ts (Node has no AF_PACKET):
#
#   python3 test/e2e/programs/af-packet-send.py IFACE PAUSE_S < frames
#
# Each non-empty stdin line is one frame in hex, sent as it is on an AF_PACKET socket bound to IFACE. After every
# 32 frames sent it pauses PAUSE_S seconds (0: never): pacing, part of the attack, so that the TAP's queue in front
# of the stack does not overflow and drop what the test wants the stack to see. At stdin's end it prints one JSON
# line: {"sent": N, "errors": N, "lastError": "..."}. Standard library only.

import json
import socket
import sys
import time

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
pause = float(sys.argv[2])
sent = errors = 0
last = ''
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        s.send(bytes.fromhex(line))
        sent += 1
    except OSError as e:
        errors += 1
        last = str(e)
    if pause > 0 and sent % 32 == 0:
        time.sleep(pause)
print(json.dumps({'sent': sent, 'errors': errors, 'lastError': last}), flush=True)
