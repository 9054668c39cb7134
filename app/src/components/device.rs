//! The preview's device sizes: fit the pane, or a phone, tablet, desktop or
//! custom viewport (rotatable), scaled down to fit the pane when it is
//! smaller, and remembered per project in the browser's local storage.

// The server build renders these parts but runs none of their browser
// logic: the viewport is read and kept in the browser's storage only.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

/// What the preview frame imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The whole pane, whatever its size.
    Fit,
    Phone,
    Tablet,
    Desktop,
    Custom {
        width: u32,
        height: u32,
    },
}

/// Narrowest and widest custom viewport, in CSS pixels.
pub const CUSTOM_MIN: u32 = 200;
pub const CUSTOM_MAX: u32 = 3840;

impl Device {
    /// The choices of the picker, with their labels (custom comes last).
    pub const PRESETS: [(Device, &'static str); 4] = [
        (Device::Fit, "Fit"),
        (Device::Phone, "Phone"),
        (Device::Tablet, "Tablet"),
        (Device::Desktop, "Desktop"),
    ];

    /// The viewport in portrait (phone, tablet) or landscape (desktop), in
    /// CSS pixels; `None` for [`Device::Fit`].
    pub fn size(self) -> Option<(u32, u32)> {
        match self {
            Device::Fit => None,
            Device::Phone => Some((390, 844)),
            Device::Tablet => Some((820, 1180)),
            Device::Desktop => Some((1440, 900)),
            Device::Custom { width, height } => Some((width, height)),
        }
    }

    /// The picker's value for this device.
    pub fn key(self) -> &'static str {
        match self {
            Device::Fit => "fit",
            Device::Phone => "phone",
            Device::Tablet => "tablet",
            Device::Desktop => "desktop",
            Device::Custom { .. } => "custom",
        }
    }

    /// The device a picker value names; `custom` starts from `previous`'s
    /// size (or a phone's).
    pub fn from_key(key: &str, previous: Device) -> Device {
        match key {
            "phone" => Device::Phone,
            "tablet" => Device::Tablet,
            "desktop" => Device::Desktop,
            "custom" => {
                let (width, height) = previous.size().unwrap_or((390, 844));
                Device::Custom { width, height }
            }
            _ => Device::Fit,
        }
    }
}

/// A device and whether it is turned sideways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub device: Device,
    pub rotated: bool,
}

impl Default for Viewport {
    fn default() -> Self {
        Self {
            device: Device::Fit,
            rotated: false,
        }
    }
}

impl Viewport {
    /// Width and height as shown, rotation applied; `None` when fitting.
    pub fn size(self) -> Option<(u32, u32)> {
        let (w, h) = self.device.size()?;
        Some(if self.rotated { (h, w) } else { (w, h) })
    }

    /// How much the frame is scaled down to fit `available` CSS pixels
    /// (never up): 1.0 when it fits or when fitting the pane.
    pub fn scale(self, available: (f64, f64)) -> f64 {
        let Some((w, h)) = self.size() else {
            return 1.0;
        };
        let (aw, ah) = available;
        if aw <= 0.0 || ah <= 0.0 {
            return 1.0;
        }
        (aw / f64::from(w)).min(ah / f64::from(h)).min(1.0)
    }

    /// What local storage keeps: `phone`, `tablet:r`, `custom:500x700:r`.
    pub fn to_stored(self) -> String {
        let mut out = self.device.key().to_string();
        if let Device::Custom { width, height } = self.device {
            out.push_str(&format!(":{width}x{height}"));
        }
        if self.rotated {
            out.push_str(":r");
        }
        out
    }

    /// Reads [`Viewport::to_stored`]'s text; anything else is the default.
    pub fn from_stored(text: &str) -> Viewport {
        let mut parts = text.split(':');
        let key = parts.next().unwrap_or_default();
        let mut viewport = Viewport {
            device: Device::from_key(key, Device::Fit),
            rotated: false,
        };
        for part in parts {
            if part == "r" {
                viewport.rotated = true;
            } else if let (Device::Custom { .. }, Some((w, h))) =
                (viewport.device, part.split_once('x'))
                && let (Ok(width), Ok(height)) = (w.parse::<u32>(), h.parse::<u32>())
            {
                viewport.device = Device::Custom {
                    width: clamp_custom(width),
                    height: clamp_custom(height),
                };
            } else {
                return Viewport::default();
            }
        }
        if viewport.device == Device::Fit {
            viewport.rotated = false;
        }
        viewport
    }
}

/// A custom side within [`CUSTOM_MIN`]..=[`CUSTOM_MAX`].
pub fn clamp_custom(px: u32) -> u32 {
    px.clamp(CUSTOM_MIN, CUSTOM_MAX)
}

/// The local storage key of a project's viewport.
pub fn storage_key(project: uuid::Uuid) -> String {
    format!("minicode.preview.{project}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_rotate_and_scale_down_only() {
        let phone = Viewport {
            device: Device::Phone,
            rotated: false,
        };
        assert_eq!(phone.size(), Some((390, 844)));
        let sideways = Viewport {
            rotated: true,
            ..phone
        };
        assert_eq!(sideways.size(), Some((844, 390)));
        assert_eq!(phone.scale((1000.0, 1000.0)), 1.0, "never scaled up");
        assert!((phone.scale((390.0, 422.0)) - 0.5).abs() < 1e-9);
        assert_eq!(Viewport::default().size(), None);
        assert_eq!(Viewport::default().scale((10.0, 10.0)), 1.0);
        assert_eq!(phone.scale((0.0, 0.0)), 1.0, "not measured yet");
    }

    #[test]
    fn the_stored_form_round_trips_and_nonsense_is_the_default() {
        for viewport in [
            Viewport::default(),
            Viewport {
                device: Device::Tablet,
                rotated: true,
            },
            Viewport {
                device: Device::Custom {
                    width: 500,
                    height: 700,
                },
                rotated: false,
            },
            Viewport {
                device: Device::Custom {
                    width: 500,
                    height: 700,
                },
                rotated: true,
            },
        ] {
            assert_eq!(Viewport::from_stored(&viewport.to_stored()), viewport);
        }
        assert_eq!(
            Viewport::from_stored("custom:99999x1"),
            Viewport {
                device: Device::Custom {
                    width: CUSTOM_MAX,
                    height: CUSTOM_MIN
                },
                rotated: false
            }
        );
        for junk in ["", "tv", "phone:x", "phone:5x5", "custom:axb", "fit:r"] {
            let read = Viewport::from_stored(junk);
            assert!(
                read == Viewport::default() || read.device == Device::Phone,
                "{junk}"
            );
            assert!(!(read.device == Device::Fit && read.rotated), "{junk}");
        }
        assert_eq!(Viewport::from_stored("phone:5x5"), Viewport::default());
    }
}
