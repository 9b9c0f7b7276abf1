// IPMI code tables, kept as data: sensor types (IPMI 2.0 §42.2 table 42-3), event/reading type
// offsets (§42.1 table 42-2, §42.2 table 42-3), unit codes (§43.17 table 43-15) and entity ids
// (§43.14 table 43-13). The sensor-specific offsets are a subset: the sensor types a server's SEL
// commonly carries (processor, power supply and unit, memory, drive slot, firmware progress,
// event logging, watchdogs, system event, interrupts, buttons, boot, OS stop, slot, ACPI state,
// presence, LAN, management health, battery, session audit, version change, FRU state). The
// threshold types (temperature 01h, voltage 02h, current 03h, fan 04h) have no sensor-specific
// offsets: their events use the threshold table. A missing entry is a reserved or OEM code.

/** Sensor type codes (§42.2 table 42-3), 01h–2Ch. */
export const SENSOR_TYPES: readonly string[] = [
  'Reserved', 'Temperature', 'Voltage', 'Current', 'Fan', 'Physical Security',
  'Platform Security Violation Attempt', 'Processor', 'Power Supply', 'Power Unit', 'Cooling Device',
  'Other Units-based Sensor', 'Memory', 'Drive Slot (Bay)', 'POST Memory Resize', 'System Firmware Progress',
  'Event Logging Disabled', 'Watchdog 1', 'System Event', 'Critical Interrupt', 'Button / Switch',
  'Module / Board', 'Microcontroller / Coprocessor', 'Add-in Card', 'Chassis', 'Chip Set', 'Other FRU',
  'Cable / Interconnect', 'Terminator', 'System Boot / Restart Initiated', 'Boot Error',
  'Base OS Boot / Installation Status', 'OS Stop / Shutdown', 'Slot / Connector', 'System ACPI Power State',
  'Watchdog 2', 'Platform Alert', 'Entity Presence', 'Monitor ASIC / IC', 'LAN', 'Management Subsystem Health',
  'Battery', 'Session Audit', 'Version Change', 'FRU State',
];

export function sensorTypeName(code: number): string {
  if (code >= 0xc0 && code <= 0xff) return `OEM sensor type 0x${hex2(code)}`;
  return SENSOR_TYPES[code] ?? `Sensor type 0x${hex2(code)}`;
}

/** Sensor unit type codes (§43.17 table 43-15), 0–92, spelled as ipmitool prints them. */
export const UNITS: readonly string[] = [
  'unspecified', 'degrees C', 'degrees F', 'degrees K', 'Volts', 'Amps', 'Watts', 'Joules', 'Coulombs', 'VA',
  'Nits', 'lumen', 'lux', 'Candela', 'kPa', 'PSI', 'Newton', 'CFM', 'RPM', 'Hz',
  'microsecond', 'millisecond', 'second', 'minute', 'hour', 'day', 'week', 'mil', 'inches', 'feet',
  'cu in', 'cu feet', 'mm', 'cm', 'm', 'cu cm', 'cu m', 'liters', 'fluid ounce', 'radians',
  'steradians', 'revolutions', 'cycles', 'gravities', 'ounce', 'pound', 'ft-lb', 'oz-in', 'gauss', 'gilberts',
  'henry', 'millihenry', 'farad', 'microfarad', 'ohms', 'siemens', 'mole', 'becquerel', 'PPM', 'reserved',
  'Decibels', 'DbA', 'DbC', 'gray', 'sievert', 'color temp deg K', 'bit', 'kilobit', 'megabit', 'gigabit',
  'byte', 'kilobyte', 'megabyte', 'gigabyte', 'word', 'dword', 'qword', 'line', 'hit', 'miss',
  'retry', 'reset', 'overrun / overflow', 'underrun', 'collision', 'packets', 'messages', 'characters', 'error',
  'correctable error', 'uncorrectable error', 'fatal error', 'grams',
];

export function unitName(code: number): string {
  return UNITS[code] ?? `unit 0x${hex2(code)}`;
}

/** Rate units (§43.1 byte 21 [5:3]): 0 none, 1 per µs … 6 per day, 7 reserved. */
export const RATE_UNITS: readonly string[] = ['', 'per microsecond', 'per millisecond', 'per second', 'per minute', 'per hour', 'per day'];

/** Threshold event offsets (§42.1 table 42-2, event/reading type 01h). Even offsets go low, odd go high. */
export const THRESHOLD_EVENTS: readonly string[] = [
  'Lower Non-critical going low', 'Lower Non-critical going high',
  'Lower Critical going low', 'Lower Critical going high',
  'Lower Non-recoverable going low', 'Lower Non-recoverable going high',
  'Upper Non-critical going low', 'Upper Non-critical going high',
  'Upper Critical going low', 'Upper Critical going high',
  'Upper Non-recoverable going low', 'Upper Non-recoverable going high',
];

/** Generic discrete offsets (§42.1 table 42-2), event/reading types 02h–0Ch. */
export const GENERIC_EVENTS: Readonly<Record<number, readonly string[]>> = {
  0x02: ['Transition to Idle', 'Transition to Active', 'Transition to Busy'],
  0x03: ['State Deasserted', 'State Asserted'],
  0x04: ['Predictive Failure deasserted', 'Predictive Failure asserted'],
  0x05: ['Limit Not Exceeded', 'Limit Exceeded'],
  0x06: ['Performance Met', 'Performance Lags'],
  0x07: [
    'Transition to OK', 'Transition to Non-Critical from OK', 'Transition to Critical from less severe',
    'Transition to Non-recoverable from less severe', 'Transition to Non-Critical from more severe',
    'Transition to Critical from Non-recoverable', 'Transition to Non-recoverable', 'Monitor', 'Informational',
  ],
  0x08: ['Device Absent', 'Device Present'],
  0x09: ['Device Disabled', 'Device Enabled'],
  0x0a: [
    'Transition to Running', 'Transition to In Test', 'Transition to Power Off', 'Transition to On Line',
    'Transition to Off Line', 'Transition to Off Duty', 'Transition to Degraded', 'Transition to Power Save',
    'Install Error',
  ],
  0x0b: [
    'Fully Redundant', 'Redundancy Lost', 'Redundancy Degraded',
    'Non-redundant: Sufficient Resources from Redundant',
    'Non-redundant: Sufficient Resources from Insufficient Resources', 'Non-redundant: Insufficient Resources',
    'Redundancy Degraded from Fully Redundant', 'Redundancy Degraded from Non-redundant',
  ],
  0x0c: ['D0 Power State', 'D1 Power State', 'D2 Power State', 'D3 Power State'],
};

/** Sensor-specific offsets (§42.2 table 42-3, event/reading type 6Fh) for common sensor types; '' = reserved. */
export const SENSOR_SPECIFIC_EVENTS: Readonly<Record<number, readonly string[]>> = {
  0x05: [
    'General Chassis intrusion', 'Drive Bay intrusion', 'I/O Card area intrusion', 'Processor area intrusion',
    'LAN Leash Lost', 'Unauthorized dock', 'FAN area intrusion',
  ],
  0x06: [
    'Secure Mode Violation attempt', 'Pre-boot Password Violation - user password',
    'Pre-boot Password Violation attempt - setup password', 'Pre-boot Password Violation - network boot password',
    'Other pre-boot Password Violation', 'Out-of-band Access Password Violation',
  ],
  0x07: [
    'IERR', 'Thermal Trip', 'FRB1/BIST failure', 'FRB2/Hang in POST failure',
    'FRB3/Processor Startup/Initialization failure', 'Configuration Error', 'SM BIOS Uncorrectable CPU-complex Error',
    'Presence detected', 'Disabled', 'Terminator presence detected', 'Throttled',
    'Uncorrectable machine check exception', 'Correctable machine check error',
  ],
  0x08: [
    'Presence detected', 'Failure detected', 'Predictive failure', 'Power Supply AC lost',
    'AC lost or out-of-range', 'AC out-of-range, but present', 'Config Error', 'Power Supply Inactive',
  ],
  0x09: [
    'Power off/down', 'Power cycle', '240VA power down', 'Interlock power down', 'AC lost',
    'Soft-power control failure', 'Failure detected', 'Predictive failure',
  ],
  0x0c: [
    'Correctable ECC', 'Uncorrectable ECC', 'Parity', 'Memory Scrub Failed', 'Memory Device Disabled',
    'Correctable ECC logging limit reached', 'Presence Detected', 'Configuration Error', 'Spare',
    'Throttled', 'Critical Overtemperature',
  ],
  0x0d: [
    'Drive Present', 'Drive Fault', 'Predictive Failure', 'Hot Spare', 'Parity Check In Progress',
    'In Critical Array', 'In Failed Array', 'Rebuild In Progress', 'Rebuild Aborted',
  ],
  0x0f: ['System Firmware Error', 'System Firmware Hang', 'System Firmware Progress'],
  0x10: [
    'Correctable memory error logging disabled', 'Event logging disabled', 'Log area reset/cleared',
    'All event logging disabled', 'Log full', 'Log almost full', 'Correctable machine check error logging disabled',
  ],
  0x11: [
    'BIOS Reset', 'OS Reset', 'OS Shut Down', 'OS Power Down', 'OS Power Cycle', 'OS NMI/Diag Interrupt',
    'OS Expired', 'OS pre-timeout Interrupt',
  ],
  0x12: [
    'System Reconfigured', 'OEM System boot event', 'Undetermined system hardware failure',
    'Entry added to auxiliary log', 'PEF Action', 'Timestamp Clock Sync',
  ],
  0x13: [
    'NMI/Diag Interrupt', 'Bus Timeout', 'I/O Channel check NMI', 'Software NMI', 'PCI PERR', 'PCI SERR',
    'EISA failsafe timeout', 'Bus Correctable error', 'Bus Uncorrectable error', 'Fatal NMI', 'Bus Fatal Error',
    'Bus Degraded',
  ],
  0x14: ['Power Button pressed', 'Sleep Button pressed', 'Reset Button pressed', 'FRU latch open', 'FRU service request button'],
  0x1d: [
    'Initiated by power up', 'Initiated by hard reset', 'Initiated by warm reset', 'User requested PXE boot',
    'Automatic boot to diagnostic', 'OS initiated hard reset', 'OS initiated warm reset', 'System Restart',
  ],
  0x1e: [
    'No bootable media', 'Non-bootable disk in drive', 'PXE server not found', 'Invalid boot sector',
    'Timeout waiting for selection',
  ],
  0x1f: [
    'A: boot completed', 'C: boot completed', 'PXE boot completed', 'Diagnostic boot completed',
    'CD-ROM boot completed', 'ROM boot completed', 'boot completed - device not specified',
    'Installation started', 'Installation completed', 'Installation aborted', 'Installation failed',
  ],
  0x20: [
    'Critical stop during OS load', 'Run-time critical stop', 'OS graceful stop', 'OS graceful shutdown',
    'PEF initiated soft shutdown', 'Agent not responding',
  ],
  0x21: [
    'Fault Status', 'Identify Status', 'Device Installed', 'Ready for Device Installation',
    'Ready for Device Removal', 'Slot Power is Off', 'Device Removal Request', 'Interlock', 'Slot is Disabled',
    'Spare Device',
  ],
  0x22: [
    'S0/G0: working', 'S1: sleeping with system hw & processor context maintained',
    'S2: sleeping, processor context lost', 'S3: sleeping, processor & hw context lost, memory retained',
    'S4: non-volatile sleep/suspend-to-disk', 'S5/G2: soft-off', 'S4/S5: soft-off', 'G3: mechanical off',
    'Sleeping in S1/S2/S3 state', 'G1: sleeping', 'S5: entered by override', 'Legacy ON state',
    'Legacy OFF state', '', 'Unknown',
  ],
  0x23: ['Timer expired', 'Hard reset', 'Power down', 'Power cycle', '', '', '', '', 'Timer interrupt'],
  0x24: ['Platform generated page', 'Platform generated LAN alert', 'Platform Event Trap generated', 'Platform generated SNMP trap'],
  0x25: ['Present', 'Absent', 'Disabled'],
  0x27: ['Heartbeat Lost', 'Heartbeat'],
  0x28: [
    'Sensor access degraded or unavailable', 'Controller access degraded or unavailable',
    'Management controller off-line', 'Management controller unavailable', 'Sensor failure', 'FRU failure',
  ],
  0x29: ['Low', 'Failed', 'Presence Detected'],
  0x2a: ['Session activated', 'Session deactivated', 'Invalid username or password', 'Invalid password disable'],
  0x2b: [
    'Hardware change detected', 'Firmware or software change detected', 'Hardware incompatibility detected',
    'Firmware or software incompatibility detected', 'Invalid or unsupported hardware version',
    'Invalid or unsupported firmware or software version', 'Hardware change successful',
    'Firmware or software change successful',
  ],
  0x2c: [
    'Not Installed', 'Inactive', 'Activation Requested', 'Activation In Progress', 'Active',
    'Deactivation Requested', 'Deactivation In Progress', 'Communication Lost',
  ],
};

/**
 * The text of one event offset (or one discrete state bit) for an event/reading type and sensor
 * type (§42.1): threshold 01h, generic 02h–0Ch, sensor-specific 6Fh, OEM 70h–7Fh. Undefined when
 * the tables have no text for it.
 */
export function eventText(eventReadingType: number, sensorType: number, offset: number): string | undefined {
  let text: string | undefined;
  if (eventReadingType === 0x01) text = THRESHOLD_EVENTS[offset];
  else if (eventReadingType >= 0x02 && eventReadingType <= 0x0c) text = GENERIC_EVENTS[eventReadingType]?.[offset];
  else if (eventReadingType === 0x6f) text = SENSOR_SPECIFIC_EVENTS[sensorType]?.[offset];
  return text ? text : undefined;
}

/** Entity ID codes (§43.14 table 43-13), 00h–37h, and the DCMI ones at 40h–42h. */
export const ENTITY_IDS: Readonly<Record<number, string>> = Object.fromEntries(
  [
    'Unspecified', 'Other', 'Unknown', 'Processor', 'Disk or Disk Bay', 'Peripheral Bay', 'System Management Module',
    'System Board', 'Memory Module', 'Processor Module', 'Power Supply', 'Add-in Card', 'Front Panel Board',
    'Back Panel Board', 'Power System Board', 'Drive Backplane', 'System Internal Expansion Board',
    'Other System Board', 'Processor Board', 'Power Unit', 'Power Module', 'Power Management',
    'Chassis Back Panel Board', 'System Chassis', 'Sub-Chassis', 'Other Chassis Board', 'Disk Drive Bay',
    'Peripheral Bay', 'Device Bay', 'Fan Device', 'Cooling Unit', 'Cable / Interconnect', 'Memory Device',
    'System Management Software', 'System Firmware', 'Operating System', 'System Bus', 'Group',
    'Remote Management Communication Device', 'External Environment', 'Battery', 'Processing Blade',
    'Connectivity Switch', 'Processor / Memory Module', 'I/O Module', 'Processor / IO Module',
    'Management Controller Firmware', 'IPMI Channel', 'PCI Bus', 'PCI Express Bus', 'SCSI Bus (parallel)',
    'SATA / SAS Bus', 'Processor / Front-side Bus', 'Real Time Clock (RTC)', 'Reserved', 'Air Inlet',
  ]
    .map((name, code): [number, string] => [code, name])
    .concat([[0x40, 'Air Inlet'], [0x41, 'Processor'], [0x42, 'Baseboard']]),
);

export function entityName(code: number): string {
  return ENTITY_IDS[code] ?? `Entity 0x${hex2(code)}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
