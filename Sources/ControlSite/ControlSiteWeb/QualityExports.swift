// The pages sign in and sign with the quality system's users and signatures; whoever imports
// the pages gets those types too.
@_exported import ControlSiteQuality
